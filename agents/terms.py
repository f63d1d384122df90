"""Expected-free-energy terms, each its own function of one imagined step.

A planner predicts each imagined step with every world model of an ensemble
(``E`` members) and, optionally, several noise draws (``M``) of each; the
result is a :class:`StepPrediction`. Each term below maps it to one value per
rollout row ``(B,)``; :func:`step_score` composes them by name and weight.

Surprise, split three ways:

- ``total``: the expected free energy of the imagined transition, the mean of
  ``F(x)`` over members and draws (``F`` = the world model's per-sample loss).
- ``epistemic``: the part the model *can* remove by learning: disagreement
  between members about ``obs_t+1`` (variance of their mean predictions),
  or between noise draws when there is a single member.
- ``aleatoric``: the part it cannot: ``max(total - epistemic, 0)``, surprise
  that remains when the members agree. (A crude split; both are in squared
  normalised units per feature.)
- ``predicted``: the free energy that real transitions from ``(obs_t,
  action_t)`` have shown, as estimated by a :class:`SurpriseHead`: unlike
  ``total`` it includes noise the model cannot code (the model codes its own
  completions well, however noisy the world is).

Preference ("risk"): squared distance of the predicted ``obs_t+1`` to a goal
observation, in normalised units.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass
class StepPrediction:
    """One imagined step for ``B`` rollout rows.

    completions: ``(E, M, B, D)`` completed joint vectors.
    free_energy: ``(E, M, B)`` each completion's free energy under its member.
    next_slice: where obs_t+1 sits in ``D``.
    predicted: ``(B,)`` surprise-head estimate of the real free energy, when available.
    """

    completions: Tensor
    free_energy: Tensor
    next_slice: slice
    predicted: Tensor | None = None

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
    """Disagreement ``(B,)``: variance across members (or draws, with one member) of obs_t+1."""
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
    return (total_surprise(p) - epistemic_surprise(p)).clamp_min(0.0)


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
    if p.completions.shape[0] > 1 or p.completions.shape[1] > 1:
        out["epistemic"] = epistemic_surprise(p)
        out["aleatoric"] = (out["total"] - out["epistemic"]).clamp_min(0.0)
    if p.predicted is not None:
        out["predicted"] = p.predicted
    return out
