"""Keeping a batch of copies apart: a penalty on plans that lead to where other copies are.

Copies of an env that share one world model also share its idea of what is
novel, so without coordination they chase the same frontier and bunch
together. :class:`CopySpread` adds, to each candidate's score, a Gaussian
kernel between the candidate's imagined observations and the *other* copies'
current observations (raw units), so copies prefer plans that move them apart
and the batch covers more ground in the same number of env steps. It reads
nothing but the rollout (the copies' current observations are its first
imagined step), so it needs no memory of visits.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from agents.planner import Rollout


class CopySpread:
    """Score bias ``(N, C)`` = ``weight * sum_h sum_{j != i} exp(-|o_ich - o_j|^2 / (2 width^2))``.

    Args:
        weight: size of the penalty (in the planner's cost units; positive pushes copies apart
            for a minimising planner's score, where lower is better).
        width: kernel width in raw observation units.
        denormalise: maps normalised observations ``(..., O)`` back to raw units.
    """

    def __init__(self, weight: float, width: float, denormalise: Callable[[Tensor], Tensor]) -> None:
        if width <= 0:
            raise ValueError(f"spread width must be > 0, got {width}")
        self.weight = float(weight)
        self.width = float(width)
        self.denormalise = denormalise

    def __call__(self, rollout: Rollout) -> Tensor:
        obs = self.denormalise(rollout.obs)  # (N, C, H + 1, O)
        n = obs.shape[0]
        if n < 2 or self.weight == 0.0:
            return torch.zeros(obs.shape[:2], device=obs.device)
        here = obs[:, 0, 0]  # (N, O) every copy's current observation
        imagined = obs[:, :, 1:]  # (N, C, H, O)
        d2 = (imagined[:, :, :, None, :] - here[None, None, None]).pow(2).sum(-1)  # (N, C, H, N)
        k = torch.exp(-d2 / (2 * self.width ** 2))
        others = ~torch.eye(n, dtype=torch.bool, device=obs.device)  # (N, N): j != i
        k = k * others[:, None, None, :]
        return self.weight * k.sum(dim=(2, 3))
