"""Autoencoder sampled by a decode-encode Markov chain.

Arulkumaran, Creswell & Bharath (2016), "Improving sampling from generative
autoencoders with Markov chains": train a plain AE, then sample by decoding a
prior code and repeating ``x <- D(E(x + c*eps))`` for ``chain_steps`` rounds
(``c`` the optional corruption std; the source text's rounds: 2 and 5).
Unlike the RAE, no gradient ever crosses the chain and training adds no noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from freeenergy.ae import AE


class MCAE(AE):
    """Plain AE whose ``sample`` runs ``chain_steps`` decode-encode rounds.

    Options as for ``AE`` (row ``mc_ae`` of :mod:`freeenergy.model_table`), plus
    ``chain_steps`` (resampling rounds after the first decode) and
    ``chain_corruption`` (std of Gaussian noise added to ``x`` before each
    encode of the chain; 0 = the plain chain).
    """

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, device=device, **options)
        self.chain_steps = int(self.options["chain_steps"])
        self.corruption = float(self.options["chain_corruption"])
        self.default_sample_steps = 1 + self.chain_steps

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One chain round ``x <- D(E(x + corruption*eps))``: ``(B, D) -> (B, D)``."""
        if self.corruption > 0:
            x = x + self.corruption * self._randn(tuple(x.shape), generator)
        return self.decoder(self.encoder(x))
