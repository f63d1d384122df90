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

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from freeenergy import model_table as table
from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel, normalised_weights


class GAN(WorldModel):
    """MLP generator ``G: (B, C) -> (B, D)`` and discriminator ``(B, D) -> (B,)`` logits.

    Options (row ``gan`` of :mod:`freeenergy.model_table`): ``code_dim`` (the
    generator's noise dimension), ``hidden``/``depth``, ``activation``,
    ``output_activation``, ``lr`` as for ``RAE``; ``smoothing`` one-sided
    label smoothing of the real targets; ``disc_hidden`` the discriminator's
    widths (empty: the generator's); ``search_steps`` and ``search_lr`` of
    the latent search in ``encode``/``complete``.
    """

    free_energy_draws = 1

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, **options)
        o = self.options
        self.code_dim = int(o["code_dim"])
        self.smoothing = float(o["smoothing"])
        self.search_steps = int(o["search_steps"])
        self.search_lr = float(o["search_lr"])
        hidden = table.widths(o)
        d_hidden = [int(h) for h in o["disc_hidden"]] or hidden
        self.generator = mlp(self.code_dim, hidden, input_dim, o["activation"], o["output_activation"])
        self.discriminator = mlp(input_dim, d_hidden, 1, "leaky_relu", "linear")
        self._opts: dict[str, torch.optim.Optimizer] = {}
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
    def optimisers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam for the generator and one for the discriminator (created on first use)."""
        if not self._opts:
            betas = (0.5, 0.999)  # the usual GAN setting; plain Adam oscillates more
            self._opts = {"generator": torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas),
                          "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.lr,
                                                            betas=betas)}
        return self._opts

    def optimiser(self) -> torch.optim.Optimizer:
        """The generator's optimiser (the GAN steps two; see ``optimisers``)."""
        return self.optimisers()["generator"]

    def _disc_loss(self, x: Tensor, fake: Tensor, weights: Tensor | None) -> tuple[Tensor, Tensor]:
        """Discriminator loss (importance weights on the real rows) and the real logits ``(B,)``."""
        real_logit = self.logit(x)
        fake_logit = self.logit(fake.detach())
        real_target = torch.full_like(real_logit, 1.0 - self.smoothing)
        w = normalised_weights(weights, real_logit)
        d_loss = F.binary_cross_entropy_with_logits(real_logit, real_target, weight=w) + \
            F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        return d_loss, real_logit

    def _gen_loss(self, n: int) -> Tensor:
        # Non-saturating: the generator maximises log D(G(z)).
        fake = self.generator(self._randn((n, self.code_dim), None))
        return F.softplus(-self.logit(fake)).mean()

    def loss(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Discriminator + generator loss (scalar) and named terms; ``weights`` ``(B,)`` weight the real rows."""
        x = self._check_x(x)
        fake = self.generator(self._randn((x.shape[0], self.code_dim), None))
        d_loss, real_logit = self._disc_loss(x, fake, weights)
        g_loss = F.softplus(-self.logit(fake)).mean()
        return d_loss + g_loss, self._metrics(d_loss, g_loss, real_logit)

    @staticmethod
    def _metrics(d_loss: Tensor, g_loss: Tensor, real_logit: Tensor) -> dict[str, Tensor]:
        return {"loss": (d_loss + g_loss).detach(), "disc_loss": d_loss.detach(), "gen_loss": g_loss.detach(),
                "d_real": torch.sigmoid(real_logit).mean().detach()}

    def train_step(self, x: Tensor, weights: Tensor | None = None, check: bool = False) -> dict[str, Tensor]:
        """One discriminator step (importance-weighted real rows), then one generator step (``check``:
        raise ``FloatingPointError`` after them when a loss is not finite)."""
        x = self._check_x(x)
        opts = self.optimisers()
        fake = self.generator(self._randn((x.shape[0], self.code_dim), None))
        d_loss, real_logit = self._disc_loss(x, fake, weights)
        # The logged generator loss is that of the batch the discriminator saw, as before its step.
        g_seen = F.softplus(-self.logit(fake)).mean()
        opts["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        opts["discriminator"].step()
        g_loss = self._gen_loss(x.shape[0])
        opts["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        opts["generator"].step()
        if check and not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise FloatingPointError("GAN loss is not finite; lower lr?")
        return self._metrics(d_loss, g_seen, real_logit)

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
