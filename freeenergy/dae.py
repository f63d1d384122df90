"""Walk-back denoising autoencoder (Bengio et al. 2013, "Generalized
denoising auto-encoders as generative models"; GSNs, 2014).

Training corrupts and reconstructs for ``walkback`` steps, each step starting
from the previous reconstruction, and scores every reconstruction against the
clean ``x``::

    r_0 = x;  r_n = D(E(r_{n-1} + c*eps_n))   n = 1..N
    L(x) = sum_n mean_d (x - r_n)^2 + lam * sum_n mean_c E(.)^2

As in the original walk-back procedure the chain's states are treated as
data (no gradient crosses from step ``n`` to ``n-1``) — the difference from
the RAE, which backpropagates through all passes and injects its noise in
code space. Sampling runs the chain ``x <- D(E(x + c*eps))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from freeenergy.networks import mlp
from freeenergy.rae import PRIORS
from freeenergy.world_model import WorldModel, code_penalty, squared_error


class WalkbackDAE(WorldModel):
    """Denoising AE trained with walk-back, sampled by its Markov chain.

    Args:
        input_dim, code_dim, hidden, lam, activation, code_activation,
            output_activation, lr, device: as for ``RAE``.
        corruption: std ``c`` of the Gaussian corruption in data space.
        walkback: corrupt-reconstruct steps ``N`` per training example.
        prior: starting codes of ``sample``: "normal" or "uniform" (sigmoid codes).
        sample_steps: decodes in ``sample`` (first one decodes a prior code).
        complete_steps: iterations of ``complete``.
    """

    def __init__(
        self,
        input_dim: int,
        code_dim: int = 6,
        hidden: Sequence[int] = (128,),
        corruption: float = 0.5,
        walkback: int = 4,
        lam: float = 0.03,
        activation: str = "relu",
        code_activation: str = "linear",
        output_activation: str = "linear",
        prior: str = "normal",
        sample_steps: int = 20,
        complete_steps: int = 5,
        lr: float = 1e-3,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(input_dim, lr)
        if int(walkback) < 1 or corruption < 0 or lam < 0:
            raise ValueError(
                f"need walkback >= 1, corruption >= 0, lam >= 0; got {walkback}, {corruption}, {lam}"
            )
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        self.prior = prior
        self.code_dim = int(code_dim)
        self.corruption = float(corruption)
        self.walkback = int(walkback)
        self.lam = float(lam)
        self.default_sample_steps = int(sample_steps)
        self.default_complete_steps = int(complete_steps)
        hidden = [int(h) for h in hidden]
        self.encoder = mlp(input_dim, hidden, self.code_dim, activation, code_activation)
        self.decoder = mlp(self.code_dim, hidden[::-1], input_dim, activation, output_activation)
        self.free_energy_draws = 4 if self.corruption > 0 else 1
        self.to(device)

    def encode(self, x: Tensor) -> Tensor:
        """``(B, D) -> (B, C)``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """``(B, C) -> (B, D)``."""
        return self.decoder(z)

    def _corrupt(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.corruption == 0:
            return x
        return x + self.corruption * self._randn(tuple(x.shape), generator)

    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Walk-back loss per row ``(B,)``; terms reconstruction and code_penalty."""
        rec = x.new_zeros(x.shape[0])
        pen = x.new_zeros(x.shape[0])
        r = x
        for _ in range(self.walkback):
            z = self.encoder(self._corrupt(r.detach()))
            r = self.decoder(z)
            rec = rec + squared_error(x, r)
            pen = pen + code_penalty(z)
        return rec + self.lam * pen, {"reconstruction": rec, "code_penalty": pen}

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One chain step ``x <- D(E(x + c*eps))``: ``(B, D) -> (B, D)``."""
        return self.decoder(self.encoder(self._corrupt(x, generator)))

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` starting codes from N(0, I) or U(0, 1) (``prior``)."""
        if self.prior == "uniform":
            return torch.rand((n, self.code_dim), device=self.device, generator=generator)
        return self._randn((n, self.code_dim), generator)
