"""RAE whose sampling chain starts from a Gaussian mixture fitted to its codes.

Trained exactly as the plain RAE; only the starting codes of ``sample``
differ. The mixture (``code_prior.GaussianMixturePrior``) is fitted to the
encoder's codes of recently seen training inputs:

- the model keeps the last ``prior_points`` rows passed to ``fit_step``
  (a ring buffer, not saved);
- the prior is (re)fitted lazily, when ``prior_codes`` is called and it was
  never fitted or at least ``prior_refit_every`` training steps have passed
  since the last fit. A generative run therefore fits it once, at the end of
  training; an online agent that keeps learning refits it at most every
  ``prior_refit_every`` steps, and only when it samples;
- ``fit_prior(x)`` fits it now, to the codes of ``x``;
- ``state_dict`` (and so ``save`` and agents' checkpoints) refreshes a stale
  prior first, so a reloaded model samples as the saved one.

The fitted prior is part of the ``state_dict`` (buffers), so ``save``/``load``
keep it; before any fit (and with no data seen) ``prior_codes`` falls back to
the plain RAE's ``prior``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from freeenergy.code_prior import GaussianMixturePrior
from freeenergy.rae import RAE


class RAEGMM(RAE):
    """``RAE`` plus an ex-post Gaussian-mixture code prior.

    Options (row ``rae_gmm`` of :mod:`freeenergy.model_table`): the RAE's, plus
    ``prior_components`` (largest number of mixture components, chosen by
    BIC), ``prior_points`` (training rows kept for the lazy fit) and
    ``prior_refit_every`` (training steps after which the next ``sample``
    refits the prior).
    """

    _seen: Tensor
    code_prior: GaussianMixturePrior

    def __init__(self, input_dim: int, *, device: str | torch.device = "cpu", **options: Any) -> None:
        super().__init__(input_dim, device="cpu", **options)
        o = self.options
        self.code_prior = GaussianMixturePrior(code_dim=self.code_dim, max_components=int(o["prior_components"]))
        self.prior_refit_every = int(o["prior_refit_every"])
        self.register_buffer("_seen", torch.zeros(int(o["prior_points"]), self.input_dim), persistent=False)
        self._seen_count = 0
        self._steps_since_fit = 0
        self.to(device)

    def train_step(self, x: Tensor, *args: Any, **kwargs: Any) -> dict[str, Tensor]:
        """``RAE.train_step`` (and so ``fit_step``) that also remembers ``x`` for the next prior fit."""
        self._remember(self._check_x(x))
        self._steps_since_fit += 1
        return super().train_step(x, *args, **kwargs)

    @torch.no_grad()
    def _remember(self, x: Tensor) -> None:
        cap = self._seen.shape[0]
        x = x[-cap:]
        idx = (self._seen_count + torch.arange(len(x), device=x.device)) % cap
        self._seen[idx] = x.detach()
        self._seen_count += len(x)

    @torch.no_grad()
    def fit_prior(self, x: Tensor | None = None, seed: int = 0) -> dict[str, float]:
        """Fit the mixture to the codes of ``x`` ``(N, D)`` (default: the remembered rows)."""
        if x is None:
            x = self._seen[: min(self._seen_count, self._seen.shape[0])]
        x = self._check_x(x)
        if len(x) < 2:
            raise ValueError(f"fit_prior needs at least 2 rows, got {len(x)}")
        was = self.training
        self.eval()
        codes = torch.cat([self.encode(chunk) for chunk in x.split(4096)])
        self.train(was)
        out = self.code_prior.fit(codes, seed=seed)
        self._steps_since_fit = 0
        return out

    def refresh_prior(self) -> bool:
        """Refit the prior if it is stale and rows were seen; returns whether it is fitted."""
        fitted = bool(self.code_prior.fitted)
        stale = not fitted or self._steps_since_fit >= self.prior_refit_every
        if stale and self._seen_count >= 2:
            self.fit_prior()
            return True
        return fitted

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module.state_dict`` after ``refresh_prior``, so a saved model samples as this one."""
        self.refresh_prior()
        return super().state_dict(*args, **kwargs)

    @torch.no_grad()
    def complete(self, x: Tensor, known_mask: Tensor, steps: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """``RAE.complete`` whose unknown entries start from a prior sample, not from ``x``.

        Independent starts per row let repeated completions of one condition
        spread over its possible outcomes; ``(B, D) -> (B, D)``.
        """
        x = self._check_x(x)
        if known_mask.dim() <= 2 and known_mask.shape[-1] == self.input_dim:
            mask = known_mask.to(device=self.device, dtype=torch.bool).expand_as(x)
            x = torch.where(mask, x, self.decode(self.prior_codes(x.shape[0], generator)))
        return super().complete(x, known_mask, steps, generator)

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` codes from the fitted mixture (refitted lazily, see the module doc)."""
        if not self.refresh_prior():
            return super().prior_codes(n, generator)
        return self.code_prior.sample(n, generator)
