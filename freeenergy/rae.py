"""Recurrent autoencoder (RAE): the project's world model.

Encoder ``E``, decoder ``D``, code noise ``sigma``, passes ``K``, code
penalty ``lam`` (the source used 0.03)::

    z_1 = E(x) + sigma*eps_1         x_1 = D(z_1)
    z_n = E(x_{n-1}) + sigma*eps_n   x_n = D(z_n)      n = 2..K
    L(x) = sum_n mean_d (x - x_n)^2 + lam * sum_n mean_c z_n^2

The squared terms are means over the data dimensions ``d`` and code
dimensions ``c`` (the source's "mean squared code" penalty), summed over the
passes; gradients flow through all passes. There is no variational term: the
repeated noisy re-encoding makes the model generative. Sampling iterates
``z <- E(D(z)) + sigma*eps`` from prior codes (or from data-space points) and
outputs ``D(z)``; completion iterates the same pass with the known entries
clamped after every decode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel, code_penalty, squared_error

PRIORS = ("normal", "uniform")


class RAE(WorldModel):
    """Recurrent autoencoder with shared weights over ``passes`` noisy passes.

    Args:
        input_dim: data dimension ``D``.
        code_dim: code dimension ``C``.
        hidden: hidden widths of the encoder; the decoder mirrors them.
        passes: ``K``, passes unrolled in training (>= 1).
        sigma: std of the Gaussian noise added to the code at every pass.
        lam: weight of the mean-squared-code penalty.
        activation: hidden-layer activation (see ``networks.ACTIVATIONS``).
        code_activation: activation of the code layer ("linear", "sigmoid", ...).
        output_activation: activation of the output layer.
        prior: starting codes of ``sample``: "normal" (N(0, I), for linear
            codes) or "uniform" (U(0, 1), for sigmoid codes).
        sample_steps: decodes in ``sample`` (default ``passes``).
        complete_steps: iterations of ``complete`` (default ``passes``).
        lr: Adam learning rate.
        device: where the parameters live.
    """

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
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(input_dim, lr)
        if int(passes) < 1:
            raise ValueError(f"passes must be >= 1, got {passes}")
        if sigma < 0 or lam < 0:
            raise ValueError(f"sigma and lam must be >= 0, got sigma={sigma}, lam={lam}")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        self.code_dim = int(code_dim)
        self.passes = int(passes)
        self.sigma = float(sigma)
        self.lam = float(lam)
        self.prior = prior
        self.default_sample_steps = int(sample_steps or passes)
        self.default_complete_steps = int(complete_steps or passes)
        self.free_energy_draws = 4 if self.sigma > 0 else 1
        hidden = [int(h) for h in hidden]
        self.encoder = mlp(input_dim, hidden, self.code_dim, activation, code_activation)
        self.decoder = mlp(self.code_dim, hidden[::-1], input_dim, activation, output_activation)
        self.to(device)

    def encode(self, x: Tensor) -> Tensor:
        """Noise-free code ``(B, D) -> (B, C)``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """``(B, C) -> (B, D)``."""
        return self.decoder(z)

    def _noisy_code(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        z = self.encoder(x)
        if self.sigma > 0:
            z = z + self.sigma * self._randn(tuple(z.shape), generator)
        return z

    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``L(x)`` per row ``(B,)`` with terms reconstruction, code_penalty,
        first_pass_error and last_pass_error (each ``(B,)``)."""
        rec = x.new_zeros(x.shape[0])
        pen = x.new_zeros(x.shape[0])
        h = x
        errors = []
        for _ in range(self.passes):
            z = self._noisy_code(h)
            h = self.decoder(z)
            err = squared_error(x, h)
            errors.append(err)
            rec = rec + err
            pen = pen + code_penalty(z)
        total = rec + self.lam * pen
        terms = {
            "reconstruction": rec,
            "code_penalty": pen,
            "first_pass_error": errors[0].detach(),
            "last_pass_error": errors[-1].detach(),
        }
        return total, terms

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One chain step ``x <- D(E(x) + sigma*eps)``: ``(B, D) -> (B, D)``."""
        return self.decoder(self._noisy_code(x, generator))

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` codes from N(0, I) or U(0, 1) (``prior``)."""
        if self.prior == "uniform":
            return torch.rand((n, self.code_dim), device=self.device, generator=generator)
        return self._randn((n, self.code_dim), generator)
