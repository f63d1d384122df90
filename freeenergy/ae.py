"""Plain autoencoder: one deterministic pass, the RAE's code penalty.

The RAE with ``passes=1`` and no code noise. Sampled by decoding prior codes
from N(0, I) — the baseline whose random codes need not land on the data.
"""

from __future__ import annotations

from typing import Any

import torch

from freeenergy.rae import RAE
from freeenergy.world_model import WorldModel


class AE(RAE):
    """Single-pass autoencoder ``L(x) = mean_d (x - D(E(x)))^2 + lam * mean_c E(x)^2``.

    Options as for ``RAE`` without passes, sigma and sample_steps (row ``ae``
    of :mod:`freeenergy.model_table`); ``sample`` decodes prior codes once;
    ``complete`` iterates ``x <- D(E(x))`` with clamping (``complete_steps``,
    0: 5).
    """

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        WorldModel.__init__(self, input_dim, **options)
        self._build(self.options, passes=1, sigma=0.0, sample_steps=1,
                    complete_steps=self.options["complete_steps"] or 5)
        self.to(device)
