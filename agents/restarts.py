"""Return, then explore: restart copies at the rarest states they met, for any agent.

Go-Explore (Ecoffet et al. 2021) keeps the states it has met, returns to the
rarest and explores from there; even a random policy then crosses large
mazes. Every ``every`` steps this puts a share ``fraction`` of the copies back
(``env.set_state``) at states met since the last restart whose transitions a
*ranking* scores in its top ``top`` share:

- a source of :mod:`agents.intrinsic` that rewards novelty (``afe``: a world
  model's free energy; ``count``: exact visit counts, Go-Explore's choice and an
  oracle on grid worlds; ``rnd``; ...), built for the restarts alone so that
  every agent, the random one included, gets the same restarts. At a restart it
  takes in the transitions met since the last one (``score``: counted or stored),
  learns from them (``learn``) and ranks them as it now sees them (``peek``);
- ``uniform``: states drawn uniformly from those met (the control).

A restart ends the restarted copies' extrinsic episodes (``agent.restarted``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.intrinsic.base import IntrinsicSource, Transitions
from agents.protocol import Step

UNIFORM = "uniform"


class Restarts:
    """Restarts of ``num_envs`` copies at the top-ranked states met since the last restart.

    Args:
        num_envs: copies ``N``.
        every: steps between restarts.
        fraction: share of the copies restarted each time.
        top: share of the ranked states that a restart draws from.
        ranker: the source that ranks states (None: ``uniform``).
        fit_ratio: the ranker's learning steps per env step.
        device: where the states are kept.
        generator: draws the picks and the restarted copies.
    """

    def __init__(self, *, num_envs: int, every: int, fraction: float, top: float = 0.1,
                 ranker: IntrinsicSource | None = None, fit_ratio: int = 1, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> None:
        if every < 1 or not 0 < fraction <= 1 or not 0 < top <= 1:
            raise ValueError(f"every={every}, fraction={fraction}, top={top}: expected every >= 1, "
                             f"0 < fraction <= 1 and 0 < top <= 1")
        self.num_envs, self.every, self.fraction, self.top = int(num_envs), int(every), float(fraction), float(top)
        self.ranker, self.fit_ratio = ranker, int(fit_ratio)
        self.device = torch.device(device)
        self.generator = generator
        self._states: list[Tensor] = []
        self._steps: list[Transitions] = []
        self.restarts = 0

    def before_step(self, env: Any) -> None:
        """Remember the copies' states before the step (call right before ``env.step``)."""
        self._states.append(env.get_state().detach().clone())

    def observed(self, step: Step) -> None:
        """Remember the step's transitions (call after the agent observed it)."""
        xy = None if step.map_xy is None else torch.as_tensor(step.map_xy).float()
        self._steps.append(Transitions(step.obs, step.action, step.next_obs, xy, self.num_envs))

    def after_step(self, env: Any, agent: Any, obs: Tensor, step: int) -> Tensor:
        """Every ``every`` steps restart copies; returns the observations to act on next."""
        if step % self.every or not self._steps:
            return obs
        states = torch.cat(self._states[-len(self._steps):])
        scores = self._rank(self._batch())
        self._states, self._steps = [], []
        k = max(1, int(round(self.fraction * self.num_envs)))
        pool = torch.topk(scores, max(1, int(round(self.top * scores.numel())))).indices
        dev = self.generator.device if self.generator is not None else torch.device("cpu")
        pick = pool[torch.randint(pool.numel(), (k,), generator=self.generator, device=dev).to(pool.device)]
        copies = torch.randperm(self.num_envs, generator=self.generator, device=dev)[:k].to(env.device)
        new_obs = env.set_state(copies, states[pick.to(states.device)].to(env.device))
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=env.device)
        mask[copies] = True
        if hasattr(agent, "restarted"):
            agent.restarted(mask)
        self.restarts += k
        return torch.where(mask[:, None], new_obs.to(obs), obs)

    def _batch(self) -> Transitions:
        s = self._steps
        xy = None if s[0].map_xy is None else torch.cat([t.map_xy for t in s])
        return Transitions(torch.cat([torch.as_tensor(t.obs) for t in s]),
                           torch.cat([torch.as_tensor(t.actions) for t in s]),
                           torch.cat([torch.as_tensor(t.next_obs) for t in s]), xy, self.num_envs)

    def _rank(self, batch: Transitions) -> Tensor:
        """``(B,)`` scores of the transitions met since the last restart (higher: rarer)."""
        if self.ranker is None:
            return torch.rand(len(batch), generator=self.generator,
                              device=self.generator.device if self.generator is not None else "cpu")
        self.ranker.score(batch)  # taken in: counted, or stored in the ranker's replay
        self.ranker.learn(self.fit_ratio * batch.steps())
        return self.ranker.peek(batch).float()

    def summary(self) -> dict[str, Any]:
        return {"restarts": self.restarts}

    def state_dict(self) -> dict:
        return {"restarts": self.restarts, "ranker": None if self.ranker is None else self.ranker.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.restarts = int(state["restarts"])
        if self.ranker is not None and state.get("ranker") is not None:
            self.ranker.load_state_dict(state["ranker"])
