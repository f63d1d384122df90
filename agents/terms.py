"""Expected-free-energy terms, each its own function of one imagined step.

A planner predicts each imagined step with every world model of an ensemble
(``E`` members) and, optionally, several noise draws (``M``) of each; the
result is a :class:`StepPrediction`. Each term below maps it to one value per
rollout row ``(B,)``; :func:`step_score` composes them by name and weight.

Surprise, split three ways (``x_em``: member ``e``'s draw ``m`` of the
imagined transition, ``y_em`` its ``obs_t+1`` part; docs/world-models.md has
the derivations and measurements):

- ``total``: the expected free energy of the imagined transition,
  ``mean_{e,m} F_e(x_em)`` (``F`` = the world model's per-sample loss).
- ``epistemic``: the part the model *can* remove by learning. Where the world
  model has its own estimate (``WorldModel.epistemic``, e.g. ``rae_gmm``'s code
  novelty, the mean distance of a transition's code to the ``k`` nearest
  codes it learned from) it is that, ``mean_{e,m} eps_e(x_em)``, carried in
  ``StepPrediction.epistemic``; otherwise the disagreement
  ``mean_d Var_e(mean_m y_em,d)`` between members about ``obs_t+1`` (with a
  single member, between its noise draws: ``mean_d Var_m(y_m,d)``, which
  also holds the outcome noise it predicts).
- ``aleatoric``: the part it cannot: ``max(total - disagreement, 0)``,
  surprise that remains when the members agree (a crude split; both are in
  squared normalised units per feature).
- ``predicted``: the free energy that real transitions from ``(obs_t,
  action_t)`` have shown, as estimated by a :class:`SurpriseHead`: unlike
  ``total`` it includes noise the model cannot code (the model codes its own
  completions well, however noisy the world is).

Preference ("risk"): squared distance of the predicted ``obs_t+1`` to a goal
observation, in normalised units.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class StepPrediction:
    """One imagined step for ``B`` rollout rows.

    completions: ``(E, M, B, D)`` completed joint vectors.
    free_energy: ``(E, M, B)`` each completion's free energy under its member.
    next_slice: where obs_t+1 sits in ``D``.
    predicted: ``(B,)`` surprise-head estimate of the real free energy, when available.
    epistemic: ``(B,)`` the world models' own epistemic estimate, when they have one (``model_epistemic``).
    """

    completions: Tensor
    free_energy: Tensor
    next_slice: slice
    predicted: Tensor | None = None
    epistemic: Tensor | None = None

    @property
    def next_obs(self) -> Tensor:
        """``(E, M, B, O)`` predicted next observations."""
        return self.completions[..., self.next_slice]

    @property
    def mean_next_obs(self) -> Tensor:
        """``(B, O)`` prediction averaged over members and draws."""
        return self.next_obs.mean(dim=(0, 1))


def total_surprise(p: StepPrediction) -> Tensor:
    """Expected free energy of the imagined transition ``(B,)``."""
    return p.free_energy.mean(dim=(0, 1))


def epistemic_surprise(p: StepPrediction) -> Tensor:
    """Reducible surprise ``(B,)``: the world models' own estimate when present, else ``disagreement``."""
    return disagreement(p) if p.epistemic is None else p.epistemic


def disagreement(p: StepPrediction) -> Tensor:
    """Variance ``(B,)`` across members (or draws, with one member) of obs_t+1, mean over features."""
    nxt = p.next_obs
    e, m = nxt.shape[0], nxt.shape[1]
    if e > 1:
        per_member = nxt.mean(dim=1)  # (E, B, O)
        return per_member.var(dim=0, unbiased=False).mean(-1)
    if m > 1:
        return nxt[0].var(dim=0, unbiased=False).mean(-1)
    raise ValueError("epistemic surprise needs an ensemble (agent.online.ensemble >= 2) or several "
                     "noise draws (agent.surprise.draws >= 2)")


def aleatoric_surprise(p: StepPrediction) -> Tensor:
    """Irreducible part ``(B,)``: expected free energy not explained by disagreement."""
    return (total_surprise(p) - disagreement(p)).clamp_min(0.0)


def model_epistemic(members: Sequence[Any], completions: Tensor, draws: int) -> Tensor | None:
    """Mean over members and draws of each member's own ``epistemic`` estimate ``(B,)``, or None.

    ``completions`` ``(E, M * B, D)``: member ``e``'s completions, draw-major
    (as ``OnlineWorldModel.complete`` returns them). None when a member has
    no estimate of its own.
    """
    if not all(hasattr(m, "epistemic") for m in members):
        return None
    per = torch.stack([m.epistemic(c) for m, c in zip(members, completions)])  # (E, M * B)
    return per.view(len(members), int(draws), -1).mean((0, 1))


def predicted_surprise(p: StepPrediction) -> Tensor:
    """Amortised expected free energy of real transitions ``(B,)`` (needs a surprise head)."""
    if p.predicted is None:
        raise ValueError("surprise='predicted' needs the surprise head (agent.online.surprise_head: true)")
    return p.predicted


def goal_risk(p: StepPrediction, goal: Tensor) -> Tensor:
    """Squared distance ``(B,)`` of the predicted obs_t+1 to ``goal`` ``(O,)`` (normalised)."""
    return (p.mean_next_obs - goal).pow(2).mean(-1)


SURPRISE_TERMS: dict[str, Callable[[StepPrediction], Tensor]] = {
    "total": total_surprise,
    "epistemic": epistemic_surprise,
    "aleatoric": aleatoric_surprise,
    "predicted": predicted_surprise,
}


def step_score(p: StepPrediction, surprise: str, surprise_weight: float,
               goal: Tensor | None = None, goal_weight: float = 0.0) -> tuple[Tensor, Tensor]:
    """Cost of one imagined step ``(B,)`` and its surprise term ``(B,)``.

    ``cost = surprise_weight * S + goal_weight * risk``; a surprise minimiser
    uses ``surprise_weight > 0``, an adversarial agent ``< 0``.
    """
    try:
        s = SURPRISE_TERMS[surprise](p)
    except KeyError:
        raise ValueError(f"unknown surprise term {surprise!r}; valid: {sorted(SURPRISE_TERMS)}") from None
    cost = surprise_weight * s
    if goal is not None and goal_weight != 0.0:
        cost = cost + goal_weight * goal_risk(p, goal)
    return cost, s


def all_surprise_terms(p: StepPrediction) -> dict[str, Tensor]:
    """Every surprise term that this prediction supports, as ``(B,)`` tensors (for logging)."""
    out = {"total": total_surprise(p)}
    if p.epistemic is not None:
        out["epistemic"] = p.epistemic
    if p.completions.shape[0] > 1 or p.completions.shape[1] > 1:
        out.setdefault("epistemic", disagreement(p))
        out["aleatoric"] = aleatoric_surprise(p)
    if p.predicted is not None:
        out["predicted"] = p.predicted
    return out
