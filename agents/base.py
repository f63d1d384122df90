"""The planning agent shared by the free-energy minimiser and the adversarial explorer.

An agent is a thin binding of an :class:`OnlineWorldModel` (what it knows), a
:class:`Planner` (how it searches) and the expected-free-energy terms of
:mod:`agents.terms` (what it wants). The two agents differ only in their
:class:`agents.objective.Objective`, the sign of the surprise term. Holding
decisions for several env steps is the wrapper :class:`agents.repeat.ActionRepeat`.

It keeps the :class:`agents.protocol.Agent` contract: ``act``, ``observe(step)``
(returns the free energy ``(N,)`` of the real transitions it stored), ``update``
(``fit_ratio`` world-model steps), ``interval_metrics`` (the imagined surprise
of the chosen plans).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.planner import Planner, ScoreBias
from agents.protocol import Agent, Metrics, Step
from agents.terms import StepPrediction, model_epistemic, step_score


class PlanningAgent(Agent):
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
        score_bias: optional hook ``(Rollout) -> (N, C)`` added to the candidates' scores.
        generator: random source for epsilon and warmup actions.
    """

    #: What the actions do with the surprise (the subclasses set it).
    objective: Objective = Objective.MINIMISE

    def __init__(self, *, world: OnlineWorldModel, planner: Planner, surprise: str = "total",
                 surprise_weight: float = 1.0, goal_obs: Tensor | Sequence[float] | None = None,
                 goal_weight: float = 0.0, draws: int = 1, complete_steps: int | None = None,
                 complete_init: str = "obs", fe_draws: int = 1, epsilon: float = 0.0,
                 warmup_steps: int = 10, fit_ratio: int = 1, score_bias: ScoreBias | None = None,
                 generator: torch.Generator | None = None) -> None:
        if surprise == "predicted" and world.surprise_head is None:
            raise ValueError("surprise='predicted' needs a world with a surprise head")
        own = surprise == "epistemic" and all(hasattr(m, "epistemic") for m in world.members)
        if surprise in ("epistemic", "aleatoric") and len(world.members) < 2 and draws < 2 and not own:
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
        epistemic = model_epistemic(self.world.members, comp, self.draws) if self.surprise == "epistemic" else None
        return StepPrediction(completions=comp.reshape(e, self.draws, b, -1),
                              free_energy=fe.reshape(e, self.draws, b), next_slice=enc.next_slice,
                              predicted=predicted, epistemic=epistemic)

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

    @property
    def device(self) -> torch.device:
        """Where the agent's tensors live."""
        return self.world.device

    @torch.no_grad()
    def act(self, obs: Tensor) -> Tensor:
        """Actions for ``obs`` ``(N, O)`` in the env's format."""
        return self._decide(torch.as_tensor(obs, device=self.world.device, dtype=torch.float32))

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
    def observe(self, step: Step) -> Tensor:
        """Store the step's real transitions; returns their free energy ``(N,)``, before learning."""
        self.end_step(step.done)
        return self.record(step.obs, step.action, step.next_obs)

    def end_step(self, done: Tensor | None = None) -> None:
        """Count one env step and forget the warm-start plans of copies whose episode ended (``(N,)`` bool)."""
        self.steps += 1
        if done is not None and bool(done.any()):
            self.planner.reset(done)

    @torch.no_grad()
    def record(self, obs: Tensor, actions: Tensor, next_obs: Tensor, weights: Tensor | None = None) -> Tensor:
        """Store ``K`` transitions (any ``K``); returns their free energy ``(K,)`` before learning."""
        x = self.world.observe(obs, actions, next_obs, weights)
        return self.world.free_energy(x, self.fe_draws)

    def update(self) -> Metrics:
        """``fit_ratio`` world-model steps; returns the world model's metrics (0-d tensors)."""
        return self.world.fit(self.fit_ratio)

    def interval_metrics(self) -> dict[str, float]:
        """The mean imagined surprise of the plans chosen last (``agent/plan_surprise``)."""
        if "surprise" not in self.last_plan:
            return {}
        return {"agent/plan_surprise": float(self.last_plan["surprise"].mean())}

    @property
    def last_metrics(self) -> Metrics:
        """The world model's metrics of its latest fit."""
        return self.world.last_metrics

    # ------------------------------------------------ the rare-state interface
    def set_score_bias(self, bias: ScoreBias | None) -> None:
        """Add ``bias(rollout) -> (N, C)`` to every candidate's planning score (None: no bias)."""
        self.score_bias = bias

    def weight_last_transitions(self, weights: Tensor) -> None:
        """Importance weights ``(K,)`` of the ``K`` transitions the latest ``observe`` stored."""
        self.world.weight_last(weights)

    def restarted(self, mask: Tensor) -> None:
        """Copies ``mask`` ``(N,)`` were put in new states outside their episode: drop their plans."""
        self.planner.reset(mask.to(self.world.device))

    def state_dict(self) -> dict:
        return {"world": self.world.state_dict(), "steps": self.steps,
                "planner_prev": None if self.planner._prev is None else self.planner._prev.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state["world"])
        self.steps = int(state["steps"])
        prev = state.get("planner_prev")
        self.planner._prev = None if prev is None else prev.to(self.world.device)
