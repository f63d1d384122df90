"""Online world-model learning: encode transitions, replay them, fit one or more models.

``OnlineWorldModel`` binds a :class:`TransitionEncoder`, a :class:`ReplayBuffer`
and ``members`` world models (one, or an ensemble whose disagreement measures
epistemic uncertainty). Every member draws its own minibatches, so members
differ by initialisation and by data order, the usual bootstrap-free ensemble.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from agents.encoding import TransitionEncoder
from agents.objective import Objective
from agents.replay import ReplayBuffer
from agents.surprise_head import SurpriseHead
from freeenergy.world_model import WorldModel


class OnlineWorldModel:
    """World model(s) learning from transitions as they arrive.

    Args:
        encoder: builds normalised joint vectors ``(B, D)``.
        members: one or more world models of input width ``encoder.dim``.
        replay_capacity: rows kept in replay.
        batch_size: rows per fit step (per member).
        device: where replay and models live.
        generator: random source for replay draws (reproducibility).
        recent_fraction: share of every batch drawn from the ``recent_window``
            newest rows, so the model quickly learns what the agent just met.
        recent_window: rows that count as recent.
        surprise_head: optional :class:`SurpriseHead` trained on every fit step
            to predict member 0's free energy from ``[obs_t, action_t]``.
        head_discount: ``gamma`` of the head's bootstrapped cumulative free energy
            (0: one step; > 0 needs discrete actions).
        objective: the acting agent's objective; the head bootstraps with its best next action.
        samples_per_transition: least rows trained on (per member) per transition stored, on
            average: a fit's batch grows from ``batch_size`` to cover the transitions stored since
            the previous fit that many times (:meth:`fit_batch`); 0: always ``batch_size``.
    """

    def __init__(self, *, encoder: TransitionEncoder, members: Sequence[WorldModel], replay_capacity: int,
                 batch_size: int, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None, recent_fraction: float = 0.0,
                 recent_window: int = 1024, surprise_head: SurpriseHead | None = None,
                 head_discount: float = 0.0, objective: Objective = Objective.MINIMISE,
                 samples_per_transition: float = 1.0) -> None:
        if not members:
            raise ValueError("OnlineWorldModel needs at least one world model")
        for m in members:
            if m.input_dim != encoder.dim:
                raise ValueError(f"world model input_dim {m.input_dim} != joint vector width {encoder.dim}")
        self.encoder = encoder
        self.members = list(members)
        self.device = torch.device(device)
        self.replay = ReplayBuffer(replay_capacity, encoder.raw_dim, self.device)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.recent_fraction = float(recent_fraction)
        self.recent_window = int(recent_window)
        self.surprise_head = surprise_head
        if head_discount and not encoder.actions.discrete:
            raise ValueError("a discounted surprise head needs a Discrete action space")
        self.head_discount = float(head_discount)
        self.objective = Objective(objective)
        if samples_per_transition < 0:
            raise ValueError(f"samples_per_transition must be >= 0, got {samples_per_transition}")
        self.samples_per_transition = float(samples_per_transition)
        self.fit_steps = 0
        self.rows_fitted = 0  # rows member 0 trained on, over all fits
        self.last_batch = self.batch_size  # rows per member and step of the latest fit
        self._added_at_fit = 0  # replay.added at the latest fit
        self.last_metrics: dict[str, Tensor] = {}
        self._last_slots: Tensor | None = None  # replay slots of the latest observe

    @property
    def last_slots(self) -> Tensor | None:
        """Replay slots ``(B,)`` of the rows the latest ``observe`` stored (None before any)."""
        return self._last_slots

    @property
    def model(self) -> WorldModel:
        """The first member (the one whose free energy is reported)."""
        return self.members[0]

    def observe(self, obs: Tensor, actions: Tensor, next_obs: Tensor,
                weights: Tensor | None = None) -> Tensor:
        """Store a batch of transitions; returns their normalised joint rows ``(B, D)``."""
        raw = self.encoder.raw(obs, actions, next_obs)
        self.encoder.update(raw[:, self.encoder.raw_next_slice])
        self._last_slots = self.replay.add(raw, weights)
        return self.encoder.normalise_raw(raw)

    def weight_last(self, weights: Tensor) -> None:
        """Set the importance weights ``(K,)`` of the ``K`` rows the latest ``observe`` stored."""
        slots = self._last_slots
        if slots is None or weights.numel() != slots.numel():
            have = 0 if slots is None else slots.numel()
            raise ValueError(f"got {weights.numel()} importance weights for the {have} transitions stored last")
        self.replay.set_weights(slots, weights)

    def fit(self, steps: int = 1) -> dict[str, Tensor]:
        """``steps`` optimiser steps for every member on fresh replay draws of :meth:`fit_batch` rows.

        Returns member 0's metrics as 0-d tensors on the device: a fit reads nothing back to
        the host (whoever reports them reads them, and checks that ``loss`` is finite).
        """
        if len(self.replay) == 0 or steps <= 0:
            return self.last_metrics
        size = self.fit_batch(int(steps))
        metrics: dict[str, Tensor] = {}
        for _ in range(int(steps)):
            for i, m in enumerate(self.members):
                raw, w = self._batch(size)
                x = self.encoder.normalise_raw(raw)
                out = m.train_step(x, w if self.replay.weighted else None)
                if i == 0:
                    metrics = out
                    if self.surprise_head is not None:
                        metrics["surprise_head_error"] = self._fit_head(m, x)
            self.fit_steps += 1
        self.rows_fitted += int(steps) * size
        self.last_batch = size
        self.last_metrics = metrics
        return metrics

    def fit_batch(self, steps: int) -> int:
        """Rows per member and step of a fit of ``steps`` steps (and the start of the next count).

        ``batch_size``, or more when the transitions stored since the previous fit need it to
        be drawn ``samples_per_transition`` times on average: with ``N`` copies the batch then
        grows with ``N`` (a planner fits ``fit_ratio`` steps per env step, the amortised agent
        ``fit_ratio * T`` per rollout of ``T * N`` transitions).
        """
        new = self.replay.added - self._added_at_fit
        self._added_at_fit = self.replay.added
        if self.samples_per_transition <= 0 or steps <= 0:
            return self.batch_size
        return max(self.batch_size, math.ceil(self.samples_per_transition * new / steps))

    @property
    def samples_seen_per_transition(self) -> float:
        """Rows member 0 trained on per transition stored, so far (the measured samples per transition)."""
        return self.rows_fitted / max(self.replay.added, 1)

    def _fit_head(self, m: WorldModel, x: Tensor) -> Tensor:
        """One step of the surprise head towards member ``m``'s free energy of rows ``x``."""
        assert self.surprise_head is not None
        with torch.no_grad():
            target = m.free_energy(x, 1)
            if self.head_discount:
                target = target + self.head_discount * self.surprise_head.bootstrap(
                    x[:, self.encoder.next_slice], self.encoder.act_dim, self.objective)
        known = x[:, : self.encoder.next_slice.start]
        return self.surprise_head.fit_step(known, target)

    def _batch(self, size: int | None = None) -> tuple[Tensor, Tensor]:
        """Raw rows ``(B, D)`` and weights ``(B,)`` of one draw of ``size`` rows (default ``batch_size``)."""
        size = self.batch_size if size is None else int(size)
        n_recent = int(round(self.recent_fraction * size))
        raw, w, _ = self.replay.sample(size - n_recent, self.generator)
        if n_recent:
            r_raw, r_w, _ = self.replay.sample_recent(n_recent, self.recent_window, self.generator)
            raw, w = torch.cat([raw, r_raw]), torch.cat([w, r_w])
        return raw, w

    @torch.no_grad()
    def free_energy(self, x: Tensor, draws: int | None = None) -> Tensor:
        """Surprise ``(B,)`` of normalised joint rows, averaged over members."""
        return torch.stack([m.free_energy(x, draws) for m in self.members]).mean(0)

    @torch.no_grad()
    def complete(self, x: Tensor, mask: Tensor, steps: int | None = None) -> Tensor:
        """Each member's completion of ``x`` ``(B, D)``: ``(E, B, D)``."""
        return torch.stack([m.complete(x, mask, steps) for m in self.members])

    def train(self, mode: bool = True) -> None:
        for m in self.members:
            m.train(mode)

    def state_dict(self, replay_rows: int | None = 4096) -> dict:
        return {
            "members": [{k: v.detach().cpu() for k, v in m.state_dict().items()} for m in self.members],
            "optimisers": [m.optimiser_state_dict() for m in self.members],
            "encoder": self.encoder.state_dict(),
            "replay": self.replay.state_dict(replay_rows),
            "fit_steps": self.fit_steps, "rows_fitted": self.rows_fitted, "added_at_fit": self._added_at_fit,
            "surprise_head": None if self.surprise_head is None else self.surprise_head.state_dict(),
            "surprise_head_opt": None if self.surprise_head is None else self.surprise_head.opt.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        for m, sd, opt in zip(self.members, state["members"], state["optimisers"]):
            m.load_state_dict(sd)
            m.load_optimiser_state_dict(opt)
        self.encoder.load_state_dict(state["encoder"])
        self.replay.load_state_dict(state["replay"])
        self.fit_steps = int(state["fit_steps"])
        self.rows_fitted = int(state.get("rows_fitted", 0))
        self._added_at_fit = int(state.get("added_at_fit", self.replay.added))
        if self.surprise_head is not None and state.get("surprise_head") is not None:
            self.surprise_head.load_state_dict(state["surprise_head"])
            self.surprise_head.opt.load_state_dict(state["surprise_head_opt"])


def build_members(factory: Callable[[], WorldModel], count: int) -> list[WorldModel]:
    """``count`` independently initialised world models from ``factory``."""
    if count < 1:
        raise ValueError(f"ensemble size must be >= 1, got {count}")
    return [factory() for _ in range(count)]
