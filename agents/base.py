"""The planning agent shared by the free-energy minimiser and the adversarial explorer.

An agent is a thin binding of an :class:`OnlineWorldModel` (what it knows), a
:class:`Planner` (how it searches) and the expected-free-energy terms of
:mod:`agents.terms` (what it wants). The two agents differ only in the sign of
the surprise term.

Loop (DESIGN.md ``Agent`` contract)::

    actions = agent.act(obs)                      # (N,) or (N, A)
    obs2, r, term, trunc, info = env.step(actions)
    fe = agent.observe(obs, actions, info["final_obs"], term | trunc)   # (N,)
    metrics = agent.update()                      # world-model steps
"""
from __future__ import annotations

import torch
from torch import Tensor

from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.planner import Planner, ScoreBias
from agents.terms import StepPrediction, step_score


class PlanningAgent:
    """Model-predictive agent scoring imagined transitions by expected free energy.

    Args:
        world: encoder + replay + world model(s), learning online.
        planner: candidate search over imagined rollouts.
        surprise: which surprise term scores a step: total, epistemic or aleatoric.
        surprise_weight: weight of the surprise term in the cost (its sign is ``objective.cost_sign``).
        goal_obs: optional goal observation ``(O,)`` (raw units) for the preference term.
        goal_weight: weight of the goal preference (risk) term.
        draws: completions per member and imagined step (noise draws).
        complete_steps: iterations of ``complete`` per imagined step (None: the model's default).
        complete_init: starting guess of the unknown obs_t+1: "obs" (no change) or "mean"
            (the running mean observation, zero in normalised units).
        fe_draws: noise draws of ``free_energy`` on imagined transitions.
        epsilon: chance of a uniformly random action per env and step.
        warmup_steps: steps of random actions before the first plan.
        fit_ratio: world-model steps per decision (per batch of N transitions).
        action_repeat: env steps each decision is held for; the world model then learns
            ``[obs_t, action, obs_t+k]`` transitions (temporal abstraction, like frame skip).
        score_bias: optional hook ``(Rollout) -> (N, C)`` added to the candidates' scores.
        generator: random source for epsilon and warmup actions.
    """

    #: What the actions do with the surprise (the subclasses set it).
    objective: Objective = Objective.MINIMISE

    def __init__(self, *, world: OnlineWorldModel, planner: Planner, surprise: str = "total",
                 surprise_weight: float = 1.0, goal_obs: Tensor | None = None, goal_weight: float = 0.0,
                 draws: int = 1, complete_steps: int | None = None, complete_init: str = "obs", fe_draws: int = 1, epsilon: float = 0.0,
                 warmup_steps: int = 10, fit_ratio: int = 1, action_repeat: int = 1, score_bias: ScoreBias | None = None,
                 generator: torch.Generator | None = None) -> None:
        if surprise == "predicted" and world.surprise_head is None:
            raise ValueError("surprise='predicted' needs a world with a surprise head")
        if surprise in ("epistemic", "aleatoric") and len(world.members) < 2 and draws < 2:
            raise ValueError(f"surprise={surprise!r} needs an ensemble of >= 2 world models or draws >= 2")
        self.world = world
        self.planner = planner
        self.surprise = surprise
        self.surprise_weight = float(surprise_weight) * self.objective.cost_sign
        self.goal_raw = None if goal_obs is None else torch.as_tensor(goal_obs, dtype=torch.float32,
                                                                       device=world.device)
        self.goal_weight = float(goal_weight)
        self.draws = int(draws)
        self.complete_steps = complete_steps
        if complete_init not in ("obs", "mean"):
            raise ValueError(f"complete_init={complete_init!r} is invalid: expected 'obs' or 'mean'")
        self.complete_init = complete_init
        self.fe_draws = int(fe_draws)
        self.epsilon = float(epsilon)
        self.warmup_steps = int(warmup_steps)
        self.fit_ratio = int(fit_ratio)
        self.score_bias = score_bias
        if int(action_repeat) < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        self.action_repeat = int(action_repeat)
        self._held: Tensor | None = None  # action held through the current decision
        self._start_obs: Tensor | None = None  # (N, O) observation at the decision
        self._open: Tensor | None = None  # (N,) bool: the decision's transition is not stored yet
        self._k = 0  # env steps since the decision
        self.generator = generator
        self.steps = 0
        self.last_plan: dict[str, Tensor] = {}

    # ------------------------------------------------------------- imagination
    @torch.no_grad()
    def predict(self, obs: Tensor, codes: Tensor) -> StepPrediction:
        """Complete ``[obs, action, ?]`` with every member and draw: ``(B, O), (B, A) -> StepPrediction``."""
        enc = self.world.encoder
        b = obs.shape[0]
        guess = obs if self.complete_init == "obs" else torch.zeros_like(obs)
        x = torch.cat([obs, codes, guess], dim=1)
        if self.draws > 1:
            x = x.repeat(self.draws, 1)
        comp = self.world.complete(x, enc.predict_mask, self.complete_steps)  # (E, M*B, D)
        e = comp.shape[0]
        fe = torch.stack([m.free_energy(c, self.fe_draws) for m, c in zip(self.world.members, comp)])
        head = self.world.surprise_head
        predicted = None if head is None else head(torch.cat([obs, codes], dim=1))
        return StepPrediction(completions=comp.reshape(e, self.draws, b, -1),
                              free_energy=fe.reshape(e, self.draws, b), next_slice=enc.next_slice,
                              predicted=predicted)

    def cost(self, pred: StepPrediction, h: int) -> tuple[Tensor, Tensor]:
        """Per-step cost ``(B,)`` and surprise ``(B,)`` (see :func:`agents.terms.step_score`)."""
        goal = None if self.goal_raw is None else self.world.encoder.normalise_obs(self.goal_raw)
        return step_score(pred, self.surprise, self.surprise_weight, goal, self.goal_weight)

    # --------------------------------------------------------------- contract
    def _random_actions(self, n: int) -> Tensor:
        codec = self.planner.codec
        if codec.discrete:
            idx = torch.randint(codec.n, (n,), device=self.world.device, generator=self.generator)
            return idx + codec.start
        u = torch.rand((n, codec.dim), device=self.world.device, generator=self.generator) * 2 - 1
        return codec.decode(u)

    @torch.no_grad()
    def act(self, obs: Tensor) -> Tensor:
        """Actions for ``obs`` ``(N, O)`` in the env's format."""
        obs = torch.as_tensor(obs, device=self.world.device, dtype=torch.float32)
        if self.action_repeat > 1:
            if self._held is not None and self._k % self.action_repeat:
                return self._held
            self._held = self._decide(obs)
            self._start_obs, self._k = obs.clone(), 0
            self._open = torch.ones(obs.shape[0], dtype=torch.bool, device=obs.device)
            return self._held
        return self._decide(obs)

    def _decide(self, obs: Tensor) -> Tensor:
        n = obs.shape[0]
        if self.steps < self.warmup_steps or len(self.world.replay) == 0:
            return self._random_actions(n)
        actions, info = self.planner.plan(self.world.encoder.normalise_obs(obs), self.predict, self.cost,
                                          score_bias=self.score_bias)
        self.last_plan = info
        if self.epsilon > 0:
            rand = torch.rand(n, device=self.world.device, generator=self.generator) < self.epsilon
            actions = torch.where(rand.reshape(-1, *([1] * (actions.dim() - 1))),
                                  self._random_actions(n).to(actions.dtype), actions)
        return actions

    @torch.no_grad()
    def observe(self, obs: Tensor, actions: Tensor, next_obs: Tensor, done: Tensor | None = None,
                weights: Tensor | None = None) -> Tensor:
        """Store real transitions; returns the free energy ``(K,)`` of those stored, before learning.

        With ``action_repeat`` k > 1 a copy's transition is stored when its
        decision ends (after k steps, or earlier when its episode ends), so K
        may be smaller than N, and 0 in between.
        """
        self.steps += 1
        if done is not None and bool(done.any()):
            self.planner.reset(done)
        if self.action_repeat == 1:
            x = self.world.observe(obs, actions, next_obs, weights)
            return self.world.free_energy(x, self.fe_draws)
        self._k += 1
        close = self._open.clone()
        if self._k % self.action_repeat and done is not None:
            close &= done.to(close.device)
        elif self._k % self.action_repeat:
            close[:] = False
        self._open &= ~close
        if not bool(close.any()):
            return torch.zeros(0, device=self.world.device)
        x = self.world.observe(self._start_obs[close], self._held[close], next_obs[close],
                               None if weights is None else weights[close])
        return self.world.free_energy(x, self.fe_draws)

    def update(self) -> dict[str, float]:
        """``fit_ratio`` world-model steps per decision; returns the world model's metrics."""
        if self.action_repeat > 1 and self._k % self.action_repeat:
            return self.world.last_metrics
        return self.world.fit(self.fit_ratio)

    def state_dict(self) -> dict:
        return {"world": self.world.state_dict(), "steps": self.steps, "k": self._k,
                "planner_prev": None if self.planner._prev is None else self.planner._prev.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state["world"])
        self.steps = int(state["steps"])
        self._k = 0  # a resumed run starts a fresh decision
        self._held = None
        prev = state.get("planner_prev")
        self.planner._prev = None if prev is None else prev.to(self.world.device)
