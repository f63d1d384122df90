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

The codes the prior was fitted to also make the model's epistemic estimate
(:meth:`RAEGMM.epistemic`): the novelty of a transition's code, its mean
distance to the ``k`` nearest of those codes (Lehman & Stanley's novelty, see
:mod:`freeenergy.knn_novelty`), which rises off the data the model has learned
from. It shares the prior's lazy refit, and like the remembered rows it is
not saved.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from freeenergy.code_prior import GaussianMixturePrior
from freeenergy.knn_novelty import NoveltyArchive
from freeenergy.rae import RAE

#: Neighbours of the code novelty behind ``RAEGMM.epistemic``.
EPISTEMIC_K = 10


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
        self._codes: NoveltyArchive | None = None  # the codes of the last prior fit
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
        self._codes = NoveltyArchive(self.code_dim, capacity=len(codes), k=EPISTEMIC_K, device=codes.device)
        self._codes.add(codes)
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

    @torch.no_grad()
    def epistemic(self, x: Tensor, known_mask: Tensor | None = None, draws: int = 4,
                  generator: torch.Generator | None = None) -> Tensor:
        """Code novelty ``(B,)`` of ``x`` ``(B, D)``: how far the model's code of it lies from what it learned.

        ``n(x) = (1/k) sum_{j=1..k} ||E(x) - c_j||`` with ``c_1..c_k`` the
        nearest codes among those of the rows the code prior was last fitted
        to (refitted lazily, as the prior). With ``known_mask`` the unknown
        entries are first completed ``draws`` times and the novelty is
        averaged over the completions.
        """
        x = self._check_x(x)
        if self._seen_count < 2 and not self.code_prior.fitted:
            # Nothing learned yet: no row is more novel than another (an agent scores before its first fit).
            return x.new_zeros(x.shape[0])
        if not self.refresh_prior() or self._codes is None:
            raise RuntimeError("RAEGMM.epistemic needs rows seen by fit_step, or fit_prior(x) first")
        rows = x
        if known_mask is not None:
            rows = self.complete(x.repeat(int(draws), 1), known_mask, generator=generator)
        was = self.training
        self.eval()
        scores = torch.cat([self._codes.score(self.encode(chunk)) for chunk in rows.split(4096)])
        self.train(was)
        return scores.view(-1, x.shape[0]).mean(0)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module.state_dict`` after ``refresh_prior``, so a saved model samples as this one."""
        self.refresh_prior()
        return super().state_dict(*args, **kwargs)

    @torch.no_grad()
    def complete(self, x: Tensor, known_mask: Tensor, steps: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """``RAE.complete`` whose unknown entries start from a prior sample, not from ``x``.

        Independent starts per row let repeated completions of one condition
        spread over its possible outcomes; ``(B, D) -> (B, D)``. With
        ``condition_dim`` they start from ``N(0, I)``, as in the training of
        the conditional term.
        """
        x = self._check_x(x)
        if self.condition_dim:
            return super().complete(x, known_mask, steps, generator)
        if known_mask.dim() <= 2 and known_mask.shape[-1] == self.input_dim:
            mask = known_mask.to(device=self.device, dtype=torch.bool).expand_as(x)
            x = torch.where(mask, x, self.decode(self.prior_codes(x.shape[0], generator)))
        return super().complete(x, known_mask, steps, generator)

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` codes from the fitted mixture (refitted lazily, see the module doc)."""
        if not self.refresh_prior():
            return super().prior_codes(n, generator)
        return self.code_prior.sample(n, generator)
