"""An ensemble of MLP dynamics models: the Plan2Explore / PETS disagreement baseline.

Each member maps ``[obs_t, action_t]`` ``(B, I)`` to a diagonal Gaussian over
``obs_t+1`` ``(B, O)`` and is trained by its negative log-likelihood on its
own bootstrap-free view of the batch (members differ by initialisation, as in
Plan2Explore). Predictions sample a random member, then its Gaussian; the
epistemic term is the members' disagreement, the variance of their means
(Sekar et al. 2020).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from freeenergy.networks import mlp


class DynamicsEnsemble(nn.Module):
    """``members`` Gaussian MLPs ``(B, in_dim) -> (B, out_dim)``.

    Args:
        in_dim: width of ``[obs_t, action_t]``.
        out_dim: width of ``obs_t+1``.
        members: ensemble size.
        hidden: hidden widths of each member.
        lr: Adam learning rate.
        device: where the parameters live.
    """

    def __init__(self, *, in_dim: int, out_dim: int, members: int = 5, hidden: tuple[int, ...] = (128, 128),
                 lr: float = 1e-3, device: str | torch.device = "cpu") -> None:
        super().__init__()
        if members < 1 or in_dim < 1 or out_dim < 1:
            raise ValueError(f"members, in_dim and out_dim must be >= 1, got {members}, {in_dim}, {out_dim}")
        self.out_dim = int(out_dim)
        self.nets = nn.ModuleList(mlp(in_dim, list(hidden), 2 * out_dim, "relu", "linear") for _ in range(members))
        self.to(device)
        self.opt = torch.optim.Adam(self.parameters(), lr=lr)

    def forward(self, inp: Tensor) -> tuple[Tensor, Tensor]:
        """Means and log-variances, each ``(E, B, O)``."""
        out = torch.stack([net(inp) for net in self.nets])
        mean, logvar = out.split(self.out_dim, dim=-1)
        return mean, logvar.clamp(-8.0, 4.0)

    def fit_step(self, inp: Tensor, target: Tensor) -> float:
        """One Adam step on the members' summed Gaussian NLL; returns its batch mean."""
        mean, logvar = self(inp)
        nll = (0.5 * ((target - mean).pow(2) * torch.exp(-logvar) + logvar)).mean()
        self.opt.zero_grad(set_to_none=True)
        nll.backward()
        self.opt.step()
        return float(nll.detach())

    @torch.no_grad()
    def sample(self, inp: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``(B, O)`` next observations: a random member per row, then its Gaussian."""
        mean, logvar = self(inp)
        pick = torch.randint(0, mean.shape[0], (mean.shape[1],), device=mean.device, generator=generator)
        rows = torch.arange(mean.shape[1], device=mean.device)
        eps = torch.randn(mean.shape[1:], device=mean.device, generator=generator)
        return mean[pick, rows] + torch.exp(0.5 * logvar[pick, rows]) * eps

    @torch.no_grad()
    def disagreement(self, inp: Tensor) -> Tensor:
        """Epistemic term ``(B,)``: variance of the members' means, averaged over features."""
        mean, _ = self(inp)
        return mean.var(dim=0, unbiased=False).mean(-1)
