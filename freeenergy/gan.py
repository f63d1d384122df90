"""Generative adversarial network: the sharp-but-unstable reference.

Goodfellow et al. (2014) with the non-saturating generator loss
``-log D(G(z))`` and one-sided label smoothing (real targets
``1 - smoothing``, fake targets 0; Salimans et al. 2016). Each ``fit_step``
takes one discriminator step then one generator step, with separate Adam
optimisers.

A GAN has no encoder and no likelihood, so the interface is filled in as
follows (documented choices, not densities):

- ``free_energy(x) = -log D(x)``: the discriminator's surprise that ``x`` is
  real (``softplus(-logit)``), ``(B,)``.
- ``encode(x)``: latent search, ``argmin_z ||G(z) - x||^2`` by a few Adam
  steps from ``z = 0``; ``complete`` runs the same search on the known
  entries only and fills the unknown ones from ``G(z)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel


class GAN(WorldModel):
    """MLP generator ``G: (B, C) -> (B, D)`` and discriminator ``(B, D) -> (B,)`` logits.

    Args:
        input_dim, code_dim (the generator's noise dimension), hidden,
            activation, output_activation, lr, device: as for ``RAE``.
        smoothing: one-sided label smoothing of the real targets.
        disc_hidden: hidden widths of the discriminator (default ``hidden``).
        search_steps: Adam steps of the latent search in ``encode``/``complete``.
        search_lr: learning rate of that search.
    """

    free_energy_draws = 1

    def __init__(
        self,
        input_dim: int,
        code_dim: int = 6,
        hidden: Sequence[int] = (128,),
        smoothing: float = 0.1,
        disc_hidden: Sequence[int] | None = None,
        activation: str = "relu",
        output_activation: str = "linear",
        search_steps: int = 50,
        search_lr: float = 0.05,
        lr: float = 1e-3,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(input_dim, lr)
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.code_dim = int(code_dim)
        self.smoothing = float(smoothing)
        self.search_steps = int(search_steps)
        self.search_lr = float(search_lr)
        hidden = [int(h) for h in hidden]
        d_hidden = hidden if disc_hidden is None else [int(h) for h in disc_hidden]
        self.generator = mlp(self.code_dim, hidden, input_dim, activation, output_activation)
        self.discriminator = mlp(input_dim, d_hidden, 1, "leaky_relu", "linear")
        self._opt_g: torch.optim.Optimizer | None = None
        self._opt_d: torch.optim.Optimizer | None = None
        self.to(device)

    # ---------------------------------------------------------------- networks
    def logit(self, x: Tensor) -> Tensor:
        """Discriminator logit ``(B, D) -> (B,)``."""
        return self.discriminator(x).squeeze(-1)

    def decode(self, z: Tensor) -> Tensor:
        """Generator ``(B, C) -> (B, D)``."""
        return self.generator(z)

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` from N(0, I)."""
        return self._randn((n, self.code_dim), generator)

    # ---------------------------------------------------------------- training
    def _losses(self, x: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        fake = self.generator(self._randn((x.shape[0], self.code_dim), None))
        real_logit = self.logit(x)
        fake_logit = self.logit(fake.detach())
        real_target = torch.full_like(real_logit, 1.0 - self.smoothing)
        d_loss = F.binary_cross_entropy_with_logits(real_logit, real_target) + \
            F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        # Non-saturating: the generator maximises log D(G(z)).
        g_loss = F.softplus(-self.logit(fake)).mean()
        metrics = {
            "loss": (d_loss + g_loss).detach(),
            "disc_loss": d_loss.detach(),
            "gen_loss": g_loss.detach(),
            "d_real": torch.sigmoid(real_logit).mean().detach(),
        }
        return d_loss, g_loss, metrics

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator + generator loss (scalar) and named terms."""
        d_loss, g_loss, metrics = self._losses(self._check_x(x))
        return d_loss + g_loss, metrics

    def fit_step(self, x: Tensor) -> dict[str, float]:
        """One discriminator step, then one generator step."""
        x = self._check_x(x)
        if self._opt_g is None or self._opt_d is None:
            betas = (0.5, 0.999)  # the usual GAN setting; plain Adam oscillates more
            self._opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas)
            self._opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=betas)
        d_loss, _, metrics = self._losses(x)
        self._opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self._opt_d.step()
        fake = self.generator(self._randn((x.shape[0], self.code_dim), None))
        g_loss = F.softplus(-self.logit(fake)).mean()
        self._opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self._opt_g.step()
        if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise FloatingPointError("GAN loss is not finite; lower lr?")
        return {k: float(v) for k, v in metrics.items()}

    # ---------------------------------------------------------------- surprise
    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``-log D(x)`` per row ``(B,)``."""
        surprise = F.softplus(-self.logit(x))
        return surprise, {"disc_surprise": surprise}

    # ---------------------------------------------------------- latent search
    def _search(self, x: Tensor, mask: Tensor, generator: torch.Generator | None) -> Tensor:
        """Codes ``(B, C)`` whose generated points match ``x`` on ``mask``."""
        z = torch.zeros((x.shape[0], self.code_dim), device=self.device)
        if generator is not None:
            z = 0.1 * self._randn(tuple(z.shape), generator)
        z.requires_grad_(True)
        opt = torch.optim.Adam([z], lr=self.search_lr)
        w = mask.float()
        with torch.enable_grad():
            for _ in range(self.search_steps):
                err = ((self.generator(z) - x).pow(2) * w).sum()
                # Gradient for z only: the generator's .grad stays untouched.
                (z.grad,) = torch.autograd.grad(err, z)
                opt.step()
        return z.detach()

    def encode(self, x: Tensor) -> Tensor:
        """Latent search ``(B, D) -> (B, C)``."""
        x = self._check_x(x)
        return self._search(x, torch.ones_like(x, dtype=torch.bool), None)

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``G(encode(x))``: ``(B, D) -> (B, D)``."""
        return self.generator(self.encode(x))

    @torch.no_grad()
    def complete(
        self,
        x: Tensor,
        known_mask: Tensor,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Fill unknown entries from ``G(z)``, ``z`` fitted to the known ones, ``(B, D)``.

        ``steps`` is unused (the search length is ``search_steps``).
        """
        x = self._check_x(x)
        mask = known_mask.to(device=self.device, dtype=torch.bool).expand_as(x)
        z = self._search(x, mask, generator)
        return torch.where(mask, x, self.generator(z))
