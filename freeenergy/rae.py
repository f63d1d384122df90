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

With ``condition_dim = c > 0`` the model also learns its clamped completion
of ``x[c:]`` given ``x[:c]`` as a conditional sampler (the energy score of
:mod:`freeenergy.conditional`, weight ``condition_weight``)::

    L(x) = sum_n mean_d (x - x_n)^2 + lam * sum_n mean_c z_n^2 + w * L_cond(x)

and ``complete`` starts the unknown entries from ``N(0, I)`` guesses, as in
that training, so that repeated completions of one condition sample its
outcomes rather than repeat one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from freeenergy import model_table as table
from freeenergy.conditional import conditional_score
from freeenergy.networks import mlp
from freeenergy.world_model import WorldModel, code_penalty, squared_error


class RAE(WorldModel):
    """Recurrent autoencoder with shared weights over ``passes`` noisy passes.

    ``RAE(input_dim, *, device="cpu", **options)``; the options (their
    defaults and docs in :mod:`freeenergy.model_table`, row ``rae``):
    ``code_dim`` ``C``; ``hidden``/``depth`` the encoder's widths (the decoder
    mirrors them); ``passes`` ``K``; ``sigma`` the code noise; ``code_penalty``
    ``lam``; ``activation``, ``code_activation``, ``output_activation``;
    ``prior`` of ``sample``'s starting codes ("normal", or "uniform" for
    sigmoid codes); ``sample_steps`` and ``complete_steps`` (0: ``passes``);
    ``lr`` of Adam; ``condition_dim`` and ``condition_weight`` of the
    conditional completion term (0: none).
    """

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, **options)
        o = self.options
        self._build(o, passes=o["passes"], sigma=o["sigma"], sample_steps=o["sample_steps"] or o["passes"],
                    complete_steps=o["complete_steps"] or o["passes"])
        self.to(device)

    def _build(self, o: dict[str, Any], *, passes: int, sigma: float, sample_steps: int,
               complete_steps: int) -> None:
        """Networks and settings from options ``o`` (the AE and MC-AE fix passes and sigma)."""
        self.code_dim = int(o["code_dim"])
        self.passes = int(passes)
        self.sigma = float(sigma)
        self.lam = float(o["code_penalty"])
        self.prior = o["prior"]
        self.default_sample_steps = int(sample_steps)
        self.default_complete_steps = int(complete_steps)
        self.free_energy_draws = 4 if self.sigma > 0 else 1
        self.condition_dim = int(o.get("condition_dim", 0))
        self.condition_weight = float(o.get("condition_weight", 0.0))
        if self.condition_dim >= self.input_dim:
            raise ValueError(f"condition_dim={self.condition_dim} must be below input_dim={self.input_dim}")
        hidden = table.widths(o)
        self.encoder = mlp(self.input_dim, hidden, self.code_dim, o["activation"], o["code_activation"])
        self.decoder = mlp(self.code_dim, hidden[::-1], self.input_dim, o["activation"], o["output_activation"])

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
        if self.condition_dim:
            cond = conditional_score(self._flat_pass, x, self.condition_dim, self.default_complete_steps)
            total = total + self.condition_weight * cond
            terms["conditional"] = cond
        return total, terms

    @torch.no_grad()
    def complete(self, x: Tensor, known_mask: Tensor, steps: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """``WorldModel.complete``; with ``condition_dim`` the unknown entries start from ``N(0, I)``."""
        if self.condition_dim:
            x = self._check_x(x)
            mask = known_mask.to(device=self.device, dtype=torch.bool)
            if mask.dim() <= 2 and mask.shape[-1] == self.input_dim:
                x = torch.where(mask.expand_as(x), x, self._randn(tuple(x.shape), generator))
        return super().complete(x, known_mask, steps, generator)

    def _flat_pass(self, h: Tensor) -> Tensor:
        """``reconstruct`` of ``(..., D)`` rows (the conditional term's chains)."""
        return self.reconstruct(h.reshape(-1, self.input_dim)).view(h.shape)

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One chain step ``x <- D(E(x) + sigma*eps)``: ``(B, D) -> (B, D)``."""
        return self.decoder(self._noisy_code(x, generator))

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` codes from N(0, I) or U(0, 1) (``prior``)."""
        if self.prior == "uniform":
            return torch.rand((n, self.code_dim), device=self.device, generator=generator)
        return self._randn((n, self.code_dim), generator)
