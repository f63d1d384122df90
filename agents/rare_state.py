"""Rare-state biasing for batched agents: umbrella sampling as a heuristic.

Umbrella sampling (see :mod:`freeenergy.umbrella`) is exact for a sampler
whose stationary law is known, e.g. Langevin dynamics in a potential. An
agent exploring an environment is no such sampler, so this module borrows
the recipe and says plainly that the result is a *heuristic*:

- **Windows on the world model's free energy.** The collective variable is
  the free energy ``F`` of a transition (the model's surprise). Window
  centres ``F_1..F_K`` span the ``umbrella.fe_quantiles`` of the free energies
  recently met, re-placed every ``umbrella.refresh`` steps as the model learns.
  The ``N`` copies are split into ``K`` groups; group ``k`` adds
  ``weight * U_k = weight * kappa/2 (F - F_k)^2`` of every imagined step to the
  candidate's planning score, i.e. it is rewarded by ``-U_k`` per step on top
  of its own objective, through the planner's ``score_bias`` hook. An
  amortised agent (no planner) takes the same ``-weight * U_k(F)`` of each
  real transition as a reward term instead (``reward_bias``), with ``F`` the
  free energy its bonus scored; there the centres are placed on real free
  energies. High windows pull their copies towards transitions the model finds rare.
- **Start states drawn towards rare states.** Every refresh, a share
  ``umbrella.reset_fraction`` of the copies is put back (``env.set_state``) at
  states the copies themselves met in the last refresh whose transitions had
  the highest free energy (their top decile). Envs without
  ``get_state``/``set_state`` skip this.
- **Importance weights for the world model.** Transitions from window ``k``
  are treated as if drawn from ``p(s) exp(-U_k(F(s)))``; their replay rows get
  the MBAR weight of the unbiased state
  (:func:`freeenergy.umbrella.unbiasing_weights`, window free energies solved
  on the recent pool at each refresh), so that the world model's weighted
  loss estimates its loss under unbiased data. This is exact for that model
  of the sampler and only approximate for a planning agent: the windows sit on
  imagined free energies while the weights use the real ones, the weights are
  clipped to ``[1/max_weight, max_weight]``, and restarted copies are not
  reweighted at all.

The figure of merit is :func:`rare_visits`: visits to the least-visited
decile of reachable cells under random play (:func:`rare_visit_summary`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from agents.explore import Visitation
from agents.planner import ScoreBias
from freeenergy import umbrella as um

#: ``bias(fe (T, N)) -> (T, N)``: the penalty ``weight * U_k(F)`` of each copy's real transitions.
RewardBias = Callable[[Tensor], Tensor]


class BiasedAgent(Protocol):
    """What rare-state biasing needs of any agent, and nothing more.

    Besides these, the agent has one of two hooks through which the window
    bias enters: ``set_score_bias(bias: ScoreBias | None)`` (a planner: the bias
    of imagined rollouts is added to the planning scores, :class:`ScoreBiased`)
    or ``set_reward_bias(bias: RewardBias | None)`` (a learner: ``-bias`` of
    its real transitions is added to its intrinsic reward, :class:`RewardBiased`).
    :meth:`RareStateBias.attach` picks the hook.
    """

    def weight_last_transitions(self, weights: Tensor) -> None:
        """Importance weights of the transitions whose free energies ``observe`` returned last."""

    def restarted(self, mask: Tensor) -> None:
        """Copies ``mask`` ``(N,)`` were put in new states outside their episode."""


class ScoreBiased(BiasedAgent, Protocol):
    def set_score_bias(self, bias: ScoreBias | None) -> None:
        """Add ``bias(rollout) -> (N, C)`` to the planning scores."""


class RewardBiased(BiasedAgent, Protocol):
    def set_reward_bias(self, bias: RewardBias | None) -> None:
        """Add ``-bias(F)`` ``(T, N)`` to the intrinsic reward of the transitions with free energies ``F``."""


class RareStateBias:
    """Windows on free energy for ``num_envs`` copies of an agent (planning or amortised).

    Args:
        num_envs: copies ``N`` (>= ``windows``).
        windows: ``K``.
        kappa: stiffness in planning-score units per squared free-energy unit
            (0: ``kappa_factor / spacing^2``, so a copy one window spacing off its
            centre pays ``weight * kappa_factor / 2``).
        kappa_factor: see ``kappa``.
        weight: scale of the bias in the planning score.
        fe_quantiles: ``(lo, hi)`` quantiles of recent free energies spanned by the centres.
        reset_fraction: share of copies restarted at rare states per refresh.
        refresh: steps between re-centring (and restarts).
        importance_weights: write unbiasing weights into the replay buffer.
        memory: recent (state, free energy) pairs kept for restarts and weights (at least
            ``num_envs``: one step of every copy, else the windows could never be placed).
        max_weight: importance weights are clipped to ``[1/max_weight, max_weight]``.
        device: where the bookkeeping lives.
        generator: random source (restarts).
    """

    def __init__(self, *, num_envs: int, windows: int, kappa: float = 0.0, kappa_factor: float = 1.0,
                 weight: float = 1.0, fe_quantiles: tuple[float, float] = (0.5, 0.99),
                 reset_fraction: float = 0.25, refresh: int = 200, importance_weights: bool = True,
                 memory: int = 4096, max_weight: float = 10.0, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None) -> None:
        if windows < 1 or num_envs < windows:
            raise ValueError(f"umbrella.windows={windows} is invalid: need 1 <= windows <= env.num_envs={num_envs}")
        self.device = torch.device(device)
        self.num_envs, self.windows = int(num_envs), int(windows)
        self.kappa_cfg, self.kappa_factor, self.weight = float(kappa), float(kappa_factor), float(weight)
        self.fe_quantiles = (float(fe_quantiles[0]), float(fe_quantiles[1]))
        self.reset_fraction, self.refresh = float(reset_fraction), int(refresh)
        self.importance_weights = bool(importance_weights)
        self.generator = generator
        self.window_n = torch.as_tensor(um.assign_windows(num_envs, windows), device=self.device)
        self.centres: Tensor | None = None
        self.kappa = 0.0
        self.f_k: Tensor | None = None
        self.memory = max(int(memory), self.num_envs)  # at least one step of every copy
        self.max_weight = float(max_weight)
        self._fe = torch.empty(0, device=self.device)
        self._win = torch.empty(0, dtype=torch.long, device=self.device)
        self._states: Tensor | None = None
        self._pending: list[Tensor] = []  # states (N, S) before each step whose free energy is still to come
        self._n_k: Tensor | None = None
        self._imagined = torch.empty(0, device=self.device)
        self._log_pool_norm = 0.0
        self.can_restart = True
        self.restarts = 0
        self.weight_sum = self.weight_sq_sum = 0.0
        self.weight_count = 0

    @classmethod
    def from_config(cls, u: Any, num_envs: int, device: torch.device, generator: torch.Generator | None
                    ) -> RareStateBias:
        """From an ``umbrella`` config section."""
        return cls(num_envs=num_envs, windows=u.windows, kappa=u.kappa, kappa_factor=u.kappa_factor,
                   weight=u.weight, fe_quantiles=tuple(u.fe_quantiles), reset_fraction=u.reset_fraction,
                   refresh=u.refresh, importance_weights=u.importance_weights, device=device, generator=generator)

    # ---------------------------------------------------------------- the bias
    def attach(self, agent: Any) -> None:
        """Hand the window bias to ``agent`` through the hook it has (:class:`BiasedAgent`).

        Raises ``ValueError`` for an agent with neither ``set_score_bias`` nor ``set_reward_bias``.
        """
        if hasattr(agent, "set_score_bias"):
            agent.set_score_bias(self.score_bias)
        elif hasattr(agent, "set_reward_bias"):
            agent.set_reward_bias(self.reward_bias)
        else:
            raise ValueError(f"{type(agent).__name__} has neither set_score_bias nor set_reward_bias")

    def bias(self, fe: Tensor) -> Tensor:
        """``weight * U_k(F)`` of free energies ``fe`` ``(N, ...)`` for each copy's window (0 before windows)."""
        if self.centres is None:
            return torch.zeros_like(fe)
        c = self.centres[self.window_n].reshape(-1, *([1] * (fe.dim() - 1))).to(fe)
        return self.weight * um.harmonic_bias(fe, c, self.kappa)

    def score_bias(self, rollout: Any) -> Tensor:
        """The planner hook: ``(N, C)``, the bias ``weight * U_k`` summed over each candidate's imagined steps.

        Summed like the planning cost itself, so that ``-U_k`` acts as a per-step reward
        on the same scale as the agent's own per-step objective.
        """
        fe = rollout.surprise
        # Remember a thin sample of what the planner imagines: the windows are placed on it.
        flat = fe.detach().reshape(-1).to(self.device)
        self._imagined = torch.cat([self._imagined, flat[:: max(1, flat.numel() // 64)]])[-self.memory:]
        return self.bias(fe).sum(-1)

    def reward_bias(self, fe: Tensor) -> Tensor:
        """The learner hook: ``weight * U_k(F)`` ``(T, N)`` of real free energies ``fe`` ``(T, N)``.

        Copy ``n`` (the last axis) pays for its own window ``k(n)``; zeros before the first refresh.
        """
        return self.bias(fe.transpose(0, 1)).transpose(0, 1)

    @staticmethod
    def window_context(num_envs: int, windows: int, device: str | torch.device = "cpu") -> Tensor:
        """``(N, K)`` one-hot of each copy's window (the split of :class:`RareStateBias`).

        A policy shared by all copies sees it next to the observation: without it the
        ``K`` quadratic rewards of a shared policy add up to one window at their mean centre.
        """
        idx = torch.as_tensor(um.assign_windows(num_envs, windows), device=device).long()
        return torch.nn.functional.one_hot(idx, windows).float()

    # ---------------------------------------------------------------- the loop
    def before_step(self, env: Any, agent: Any = None) -> None:
        """Remember the copies' states (call right before ``env.step``)."""
        if self.can_restart:
            try:
                self._pending.append(env.get_state().clone())
            except NotImplementedError:
                self.can_restart = False
                self._pending = []
            # Kept until the free energies of their steps arrive (an amortised agent scores whole rollouts).
            self._pending = self._pending[-(self.memory // self.num_envs + 1):]

    def after_step(self, env: Any, agent: BiasedAgent, fe: Tensor | None, obs: Tensor, step: int) -> Tensor:
        """Weight the new transitions, remember (state, F); every ``refresh`` steps re-centre and restart.

        ``fe`` is what ``agent.observe`` returned: the free energies ``(N,)`` of
        this step's transitions (a planner), ``(k * N,)`` of the last ``k`` steps
        (step-major; an amortised agent at a rollout's end), or None (nothing
        scored yet). ``obs`` is the observation the loop will act on next;
        returns it, changed where copies were restarted. The agent is reached
        only through :class:`BiasedAgent`.
        """
        if fe is not None:
            fe = fe.detach().to(self.device).float().reshape(-1)
            if fe.numel() % self.num_envs:
                raise ValueError(f"rare-state biasing needs one transition per copy and step ({self.num_envs}), "
                                 f"got {fe.numel()}: set agent.planner.action_repeat=1 with umbrella.windows > 0")
            self._weigh(agent, fe, self._remember(fe))
        if step % self.refresh == 0 and self._fe.numel() >= self.num_envs:
            self._recentre()
            obs = self._restart(env, agent, obs)
        return obs

    def _weigh(self, agent: BiasedAgent, fe: Tensor, win: Tensor) -> None:
        if not self.importance_weights or self.centres is None:
            return
        log_w, _ = um.unbiasing_weights(fe, win, self.centres, self.kappa, 1.0, self.f_k, self._n_k, log=True)
        # Scaled to mean 1 over the pool the windows were fitted on, not per batch, so that
        # rows from different steps keep their relative weights; in logs, because a transition
        # far outside every window has a weight beyond float32's range.
        # Clipped: such a transition would otherwise turn a minibatch into one sample (less
        # variance for a little bias).
        bound = math.log(self.max_weight)
        w = torch.exp((log_w + self._log_pool_norm).clamp(-bound, bound)).to(torch.float32)
        agent.weight_last_transitions(w)
        self.weight_sum += float(w.sum())
        self.weight_sq_sum += float((w * w).sum())
        self.weight_count += w.numel()

    def _remember(self, fe: Tensor) -> Tensor:
        """Keep ``fe`` ``(k * N,)`` with its windows and the states its steps started from; the windows."""
        k = fe.numel() // self.num_envs
        win = self.window_n.repeat(k)
        self._fe = torch.cat([self._fe, fe])[-self.memory:]
        self._win = torch.cat([self._win, win])[-self.memory:]
        if self._pending:
            # The last k remembered steps are the ones scored (fewer if the memory is shorter):
            # rows stay aligned with self._fe from the end.
            s = torch.cat(self._pending[-k:]).to(self.device)
            self._states = s if self._states is None else torch.cat([self._states, s])[-self.memory:]
            self._pending = []
        return win

    def _recent(self) -> int:
        """Rows of the memory that count as recent: the last ``refresh`` steps of every copy."""
        return min(self._fe.numel(), self.refresh * self.num_envs)

    def _recentre(self) -> None:
        # Only recent free energies: older ones were scored by an earlier, less trained model.
        # The centres follow the imagined free energies, the values the planning bias acts on
        # (the model finds its own completions less surprising than real transitions).
        fe_recent = self._fe[-self._recent():]
        placed_on = self._imagined[-self.memory // 4:] if self._imagined.numel() else fe_recent
        self._imagined = self._imagined[:0]
        lo, hi = torch.quantile(placed_on, torch.tensor(self.fe_quantiles, device=self.device)).tolist()
        if not hi > lo:
            hi = lo + 1e-6
        self.centres = torch.linspace(lo, hi, self.windows, device=self.device)
        spacing = (hi - lo) / max(self.windows - 1, 1)
        self.kappa = self.kappa_cfg or self.kappa_factor / spacing**2
        if self.importance_weights:
            win_recent = self._win[-self._recent():]
            self._n_k = torch.bincount(win_recent, minlength=self.windows).to(torch.float64)
            log_raw, self.f_k = um.unbiasing_weights(fe_recent, win_recent, self.centres, self.kappa, 1.0,
                                                     n_k=self._n_k, log=True)
            self._log_pool_norm = math.log(log_raw.numel()) - float(torch.logsumexp(log_raw, 0))

    def _restart(self, env: Any, agent: BiasedAgent, obs: Tensor) -> Tensor:
        if not self.can_restart or self._states is None or self.reset_fraction == 0:
            return obs
        k = int(round(self.reset_fraction * self.num_envs))
        if k == 0:
            return obs
        n_mem = min(self._states.shape[0], self._recent())
        fe = self._fe[-n_mem:]
        top = torch.nonzero(fe >= torch.quantile(fe, 0.9)).flatten()
        # Drawn where the generator lives (the run's: a CUDA generator on CUDA), then moved.
        dev = self.generator.device if self.generator is not None else torch.device("cpu")
        pick = top[torch.randint(top.numel(), (k,), generator=self.generator, device=dev).to(top.device)]
        copies = torch.randperm(self.num_envs, generator=self.generator, device=dev)[:k].to(env.device)
        try:
            new_obs = env.set_state(copies, self._states[-n_mem:][pick].to(env.device))
        except NotImplementedError:
            self.can_restart = False
            return obs
        mask = torch.zeros(self.num_envs, dtype=torch.bool, device=env.device)
        mask[copies] = True
        agent.restarted(mask)
        self.restarts += k
        return torch.where(mask[:, None], new_obs.to(obs), obs)

    # ---------------------------------------------------------------- report
    def summary(self) -> dict[str, Any]:
        n = max(self.weight_count, 1)
        mean = self.weight_sum / n
        ess = (self.weight_sum**2 / self.weight_sq_sum / n) if self.weight_sq_sum > 0 else 1.0
        return {"umbrella_windows": self.windows, "umbrella_kappa": self.kappa,
                "umbrella_centres": [] if self.centres is None else self.centres.tolist(),
                "umbrella_restarts": self.restarts, "umbrella_mean_weight": mean,
                "umbrella_weight_ess_fraction": ess}


# -------------------------------------------------------------------- rare cells


def random_play_counts(env: Any, steps: int, seed: int) -> Tensor:
    """Visit counts ``(num_cells,)`` of uniformly random actions on ``env`` for ``steps`` steps."""
    gen = torch.Generator(device=env.device).manual_seed(int(seed))
    vis = Visitation.for_env(env)
    env.reset(seed=seed)
    vis.add(env.map_cells(env.last_info["map_xy"]))
    for _ in range(int(steps)):
        _, _, _, _, info = env.step(env.sample_actions(gen))
        vis.add(env.map_cells(info.get("final_map_xy", info["map_xy"])))
    return vis.counts.cpu()


def rare_cells(reference: Any, reachable: Any, fraction: float = 0.1) -> np.ndarray:
    """The least-visited ``fraction`` of reachable cells under ``reference`` counts: ``(num_cells,)`` bool.

    Ties at the cut are all included (so the set can be a little larger).
    """
    ref = np.asarray(torch.as_tensor(reference).cpu(), dtype=np.float64).reshape(-1)
    reach = np.asarray(torch.as_tensor(reachable).cpu(), dtype=bool).reshape(-1)
    vals = ref[reach]
    if vals.size == 0:
        return np.zeros_like(reach)
    k = max(1, int(np.ceil(fraction * vals.size)))
    cut = np.sort(vals)[k - 1]
    return reach & (ref <= cut)


def rare_visits(counts: Any, mask: np.ndarray) -> int:
    """Visits ``counts`` ``(num_cells,)`` (or a heatmap) made to the cells in ``mask``."""
    c = np.asarray(torch.as_tensor(counts).cpu(), dtype=np.float64).reshape(-1)
    return int(c[np.asarray(mask, dtype=bool).reshape(-1)].sum())


def rare_visit_summary(env: Any, steps: int, seed: int, vis: Visitation, fraction: float = 0.1,
                       reference_factor: int = 10) -> dict[str, Any]:
    """``rare_visits`` of a run's visitation ``vis`` against random play on a fresh ``env``.

    The rare cells are the least-visited ``fraction`` of reachable cells under
    random play for ``reference_factor * steps`` steps (a longer reference
    ranks cells with fewer ties at zero; the set still includes all ties).
    Keys: ``rare_visits`` (the run's visits to those cells), ``rare_visit_share``
    (of all its visits), ``rare_cells`` (cells in the set),
    ``random_rare_visits`` (random play's visits there, per ``steps`` steps).
    """
    try:
        ref = random_play_counts(env, steps * reference_factor, seed)
    finally:
        env.close()
    mask = rare_cells(ref, vis.reachable, fraction)
    total = max(int(vis.counts.sum()), 1)
    return {"rare_visits": rare_visits(vis.counts, mask), "rare_visit_share": rare_visits(vis.counts, mask) / total,
            "rare_cells": int(mask.sum()), "random_rare_visits": rare_visits(ref, mask) / reference_factor}
