"""RAE whose aggregate code distribution is pulled towards N(0, I) while it trains (WAE-MMD).

The jointly learned alternative to an ex-post code prior: Tolstikhin et al.
(2018, "Wasserstein auto-encoders") add to the reconstruction loss a
maximum mean discrepancy between the batch's codes and draws from the prior,
with the inverse multiquadratic kernel ``k(a, b) = c / (c + |a - b|^2)``,
``c = 2 C`` (C the code dimension; the prior's expected squared distance).
Sampling then starts from N(0, I) codes with no second fit.

The term is a property of the batch, not of a row: it is added by ``loss``
(batch mean) and is absent from ``per_sample_loss`` (and so from the free
energy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from freeenergy.rae import RAE


def mmd_imq(a: Tensor, b: Tensor, scale: float) -> Tensor:
    """Unbiased MMD^2 between ``(N, C)`` and ``(M, C)`` with kernel ``scale / (scale + d^2)``."""
    def k(x: Tensor, y: Tensor) -> Tensor:
        return scale / (scale + torch.cdist(x, y).pow(2))

    n, m = a.shape[0], b.shape[0]
    kaa = (k(a, a).sum() - n) / (n * (n - 1))
    kbb = (k(b, b).sum() - m) / (m * (m - 1))
    return kaa + kbb - 2 * k(a, b).mean()


class RAEMMD(RAE):
    """``RAE`` plus ``mmd_weight * MMD^2(E(x), N(0, I))`` on every batch (see the module doc)."""

    def __init__(
        self,
        input_dim: int,
        code_dim: int = 6,
        hidden: Sequence[int] = (128,),
        passes: int = 3,
        sigma: float = 0.1,
        lam: float = 0.03,
        activation: str = "relu",
        code_activation: str = "linear",
        output_activation: str = "linear",
        prior: str = "normal",
        sample_steps: int | None = None,
        complete_steps: int | None = None,
        lr: float = 1e-3,
        mmd_weight: float = 10.0,
        mmd_points: int = 1000,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(input_dim, code_dim, hidden, passes, sigma, lam, activation, code_activation,
                         output_activation, prior, sample_steps, complete_steps, lr, device=device)
        if mmd_weight < 0:
            raise ValueError(f"mmd_weight must be >= 0, got {mmd_weight}")
        self.mmd_weight = float(mmd_weight)
        self.mmd_points = int(mmd_points)

    def loss(self, x: Tensor, *args: Any, **kwargs: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """The RAE's loss plus the batch's weighted MMD^2 term (metric ``code_mmd``)."""
        total, metrics = super().loss(x, *args, **kwargs)
        x = self._check_x(x)
        if x.shape[0] > self.mmd_points:
            # The MMD costs O(B^2): a random subset of the batch estimates it without bias.
            x = x[torch.randperm(x.shape[0], device=x.device)[: self.mmd_points]]
        z = self.encode(x)
        if z.shape[0] < 2:
            return total, metrics
        mmd = mmd_imq(z, torch.randn_like(z), 2.0 * self.code_dim)
        metrics["code_mmd"] = mmd.detach()
        total = total + self.mmd_weight * mmd
        metrics["loss"] = total.detach()
        return total, metrics
