"""Action repeat as a wrapper agent: hold each decision for ``k`` env steps.

``ActionRepeat(agent, repeat=k)`` asks the wrapped planning agent for actions
every ``k`` steps only and, in between, returns the held actions. The world
model then learns temporally abstract transitions ``[obs_t, action, obs_t+k]``
(like frame skip): a copy's transition is stored when its decision ends,
after ``k`` steps or earlier when its episode ends, so ``observe`` returns
the free energy of ``K <= N`` transitions (``K = 0`` between decisions), and
the world model learns once per decision.

The wrapped agent provides ``act``, ``end_step(done)``, ``record(...)``,
``update()``, ``last_metrics`` and the state methods (see
:class:`agents.base.PlanningAgent`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.protocol import Agent, Metrics, Step


class ActionRepeat(Agent):
    """The Agent contract around ``agent``, each decision held for ``repeat`` env steps.

    Args:
        agent: the wrapped planning agent.
        repeat: env steps per decision (>= 1; 1 passes everything through).
    """

    def __init__(self, agent: Any, *, repeat: int) -> None:
        if int(repeat) < 1:
            raise ValueError(f"action_repeat must be >= 1, got {repeat}")
        self.agent = agent
        self.repeat = int(repeat)
        self._held: Tensor | None = None  # (N, ...) actions held through the current decision
        self._start_obs: Tensor | None = None  # (N, O) observation at the decision
        self._open: Tensor | None = None  # (N,) bool: the decision's transition is not stored yet
        self._k = 0  # env steps since the decision

    @property
    def world(self) -> Any:  # type: ignore[override]
        return self.agent.world

    @property
    def device(self) -> torch.device:
        return self.agent.device

    def interval_metrics(self) -> dict[str, float]:
        return self.agent.interval_metrics()

    def restarted(self, mask: Tensor) -> None:
        self.agent.restarted(mask)

    @torch.no_grad()
    def act(self, obs: Tensor) -> Tensor:
        """The held actions, or a new decision every ``repeat`` steps: ``(N, O) -> (N,)`` or ``(N, A)``."""
        obs = torch.as_tensor(obs, device=self.agent.device, dtype=torch.float32)
        if self._held is not None and self._k % self.repeat:
            return self._held
        self._held = self.agent.act(obs)
        self._start_obs, self._k = obs.clone(), 0
        self._open = torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device)
        return self._held

    @torch.no_grad()
    def observe(self, step: Step) -> Tensor:
        """Store the transitions of decisions that ended; their free energy ``(K,)``, ``K <= N``."""
        done, next_obs = step.done, step.next_obs
        self.agent.end_step(done)
        self._k += 1
        assert self._open is not None and self._start_obs is not None and self._held is not None
        close = self._open.clone()
        if self._k % self.repeat and done is not None:
            close &= done.to(close.device)
        elif self._k % self.repeat:
            close[:] = False
        self._open &= ~close
        if not bool(close.any()):
            return torch.zeros(0, device=self.agent.device)
        return self.agent.record(self._start_obs[close], self._held[close], next_obs[close])

    def update(self) -> Metrics:
        """The wrapped agent's update once per decision; its last metrics in between."""
        if self._k % self.repeat:
            return self.agent.last_metrics
        return self.agent.update()

    def state_dict(self) -> dict:
        return {**self.agent.state_dict(), "k": self._k}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state)
        self._k = 0  # a resumed run starts a fresh decision
        self._held = None
