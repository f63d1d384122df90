"""Autoencoder sampled by a decode-encode Markov chain.

Arulkumaran, Creswell & Bharath (2016), "Improving sampling from generative
autoencoders with Markov chains": train a plain AE, then sample by decoding a
prior code and repeating ``x <- D(E(x + c*eps))`` for ``chain_steps`` rounds
(``c`` the optional corruption std; the source text's rounds: 2 and 5).
Unlike the RAE, no gradient ever crosses the chain and training adds no noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from freeenergy.ae import AE


class MCAE(AE):
    """Plain AE whose ``sample`` runs ``chain_steps`` decode-encode rounds.

    Args as for ``AE``, plus:
        chain_steps: resampling rounds after the first decode (>= 0).
        corruption: std of Gaussian noise added to ``x`` before each encode of
            the chain (0 = the plain chain).
    """

    def __init__(
        self,
        input_dim: int,
        code_dim: int = 6,
        hidden: Sequence[int] = (128,),
        lam: float = 0.03,
        activation: str = "relu",
        code_activation: str = "linear",
        output_activation: str = "linear",
        prior: str = "normal",
        chain_steps: int = 5,
        corruption: float = 0.0,
        complete_steps: int = 5,
        lr: float = 1e-3,
        device: str | torch.device = "cpu",
    ) -> None:
        if int(chain_steps) < 0 or corruption < 0:
            raise ValueError(
                f"chain_steps and corruption must be >= 0, got {chain_steps}, {corruption}"
            )
        super().__init__(
            input_dim,
            code_dim=code_dim,
            hidden=hidden,
            lam=lam,
            activation=activation,
            code_activation=code_activation,
            output_activation=output_activation,
            prior=prior,
            complete_steps=complete_steps,
            lr=lr,
            device=device,
        )
        self.chain_steps = int(chain_steps)
        self.corruption = float(corruption)
        self.default_sample_steps = 1 + self.chain_steps

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One chain round ``x <- D(E(x + corruption*eps))``: ``(B, D) -> (B, D)``."""
        if self.corruption > 0:
            x = x + self.corruption * self._randn(tuple(x.shape), generator)
        return self.decoder(self.encoder(x))
