"""Variational autoencoder (Kingma & Welling, 2014).

Gaussian encoder ``q(z|x) = N(mu(x), diag(exp(logvar(x))))``, prior
``N(0, I)``, Gaussian decoder of fixed variance ``obs_var``. The per-sample
objective is the negative ELBO without constants::

    L(x) = 0.5 * sum_d (x - D(z))^2 / obs_var + beta * KL(q(z|x) || N(0, I)),
    z = mu + exp(logvar/2) * eps   (reparameterisation)

``free_energy`` is this bound averaged over a few draws of ``z`` — the
variational free energy proper.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from freeenergy import model_table as table
from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel, squared_error


class VAE(WorldModel):
    """VAE with MLP encoder (outputs ``2C``) and mirrored decoder.

    Options (row ``vae`` of :mod:`freeenergy.model_table`): ``code_dim``,
    ``hidden``/``depth``, ``activation``, ``output_activation``, ``lr`` as for
    ``RAE``; ``beta`` the weight of the KL term (1 = the ELBO); ``obs_var`` the
    variance of the Gaussian likelihood (how sharp reconstructions must be
    relative to the KL); ``complete_steps`` (0: 5).
    """

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, **options)
        o = self.options
        self.code_dim = int(o["code_dim"])
        self.beta = float(o["beta"])
        self.obs_var = float(o["obs_var"])
        self.default_complete_steps = int(o["complete_steps"] or 5)
        hidden = table.widths(o)
        self.encoder = mlp(input_dim, hidden, 2 * self.code_dim, o["activation"], "linear")
        self.decoder = mlp(self.code_dim, hidden[::-1], input_dim, o["activation"], o["output_activation"])
        self.to(device)

    def _posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        # Bounded log-variance keeps exp() finite early in training.
        return mu, logvar.clamp(-12.0, 8.0)

    def encode(self, x: Tensor) -> Tensor:
        """Posterior mean ``(B, D) -> (B, C)``."""
        return self._posterior(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        """``(B, C) -> (B, D)``."""
        return self.decoder(z)

    def _draw(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self._posterior(x)
        z = mu + (0.5 * logvar).exp() * self._randn(tuple(mu.shape), generator)
        return z, mu, logvar

    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Negative ELBO per row ``(B,)``; terms reconstruction (MSE) and kl."""
        z, mu, logvar = self._draw(x)
        mse = squared_error(x, self.decoder(z))
        nll = 0.5 * mse * self.input_dim / self.obs_var
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
        return nll + self.beta * kl, {"reconstruction": mse, "kl": kl}

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Decode a posterior draw: ``(B, D) -> (B, D)``."""
        return self.decoder(self._draw(x, generator)[0])

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` from N(0, I)."""
        return self._randn((n, self.code_dim), generator)
