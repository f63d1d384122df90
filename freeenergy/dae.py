"""Walk-back denoising autoencoder (Bengio et al. 2013, "Generalized
denoising auto-encoders as generative models"; GSNs, 2014).

Training corrupts and reconstructs for ``passes`` (walk-back) steps, each step starting
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

from typing import Any

import torch
from torch import Tensor

from freeenergy import model_table as table
from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel, code_penalty, squared_error


class WalkbackDAE(WorldModel):
    """Denoising AE trained with walk-back, sampled by its Markov chain.

    Options (row ``dae`` of :mod:`freeenergy.model_table`): ``code_dim``,
    ``hidden``/``depth``, ``code_penalty``, the activations, ``prior`` and
    ``lr`` as for ``RAE``; ``corruption`` the std ``c`` of the Gaussian
    corruption in data space; ``passes`` the corrupt-reconstruct steps ``N``
    per training example (walk-back); ``sample_steps`` decodes in ``sample``
    (0: 20; the first decodes a prior code); ``complete_steps`` (0: 5).
    """

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, **options)
        o = self.options
        self.prior = o["prior"]
        self.code_dim = int(o["code_dim"])
        self.corruption = float(o["corruption"])
        self.walkback = int(o["passes"])
        self.lam = float(o["code_penalty"])
        self.default_sample_steps = int(o["sample_steps"] or 20)
        self.default_complete_steps = int(o["complete_steps"] or 5)
        hidden = table.widths(o)
        self.encoder = mlp(input_dim, hidden, self.code_dim, o["activation"], o["code_activation"])
        self.decoder = mlp(self.code_dim, hidden[::-1], input_dim, o["activation"], o["output_activation"])
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
