"""Plain autoencoder: one deterministic pass, the RAE's code penalty.

The RAE with ``passes=1`` and no code noise. Sampled by decoding prior codes
from N(0, I) — the baseline whose random codes need not land on the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from freeenergy.rae import RAE


class AE(RAE):
    """Single-pass autoencoder ``L(x) = mean_d (x - D(E(x)))^2 + lam * mean_c E(x)^2``.

    Args as for ``RAE`` (without passes and sigma); ``sample`` decodes prior
    codes once; ``complete`` iterates ``x <- D(E(x))`` with clamping.
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
        complete_steps: int = 5,
        lr: float = 1e-3,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(
            input_dim,
            code_dim=code_dim,
            hidden=hidden,
            passes=1,
            sigma=0.0,
            lam=lam,
            activation=activation,
            code_activation=code_activation,
            output_activation=output_activation,
            prior=prior,
            sample_steps=1,
            complete_steps=complete_steps,
            lr=lr,
            device=device,
        )
