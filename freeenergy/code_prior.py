"""A Gaussian-mixture density over an autoencoder's codes, fitted after training.

Ex-post density estimation (Ghosh et al. 2020, "From variational to
deterministic autoencoders"): a deterministic or weakly noisy autoencoder's
codes rarely follow N(0, I) (near-dead directions, offsets), so decoding
N(0, I) codes lands off the data's support. Fitting a density to the codes of
the training data and sampling from it puts the chain's starts where the
decoder was trained.

The codes ``(N, C)`` are first centred and rotated onto their ``m =
min(C, max_dim)`` leading principal directions; a full-covariance mixture with
``k <= max_components`` components (``k`` chosen by BIC) is fitted there with
scikit-learn, and the discarded directions get one isotropic residual
variance (as in probabilistic PCA). Every parameter is a buffer of fixed shape
(unused components have weight 0), so the prior travels with the model's
``state_dict`` and samples in torch on the model's device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


class GaussianMixturePrior(nn.Module):
    """Mixture density over ``(N, C)`` codes; sampled in torch.

    Args:
        code_dim: ``C``.
        max_components: largest number of components tried by BIC.
        max_dim: largest subspace the mixture is fitted in (codes of higher
            dimension are projected on their leading principal directions).
        max_points: codes used by a fit (a seeded subsample beyond that).
    """

    fitted: Tensor
    log_weights: Tensor
    means: Tensor
    chol: Tensor
    centre: Tensor
    basis: Tensor
    residual_std: Tensor

    def __init__(self, *, code_dim: int, max_components: int = 10, max_dim: int = 16,
                 max_points: int = 5000) -> None:
        super().__init__()
        if max_components < 1 or max_dim < 1 or code_dim < 1:
            raise ValueError(f"code_dim, max_components and max_dim must be >= 1, got "
                             f"{code_dim}, {max_components}, {max_dim}")
        self.code_dim = int(code_dim)
        self.max_components = int(max_components)
        self.sub_dim = min(int(max_dim), self.code_dim)
        self.max_points = int(max_points)
        k, m, c = self.max_components, self.sub_dim, self.code_dim
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("log_weights", torch.full((k,), -torch.inf))
        self.register_buffer("means", torch.zeros(k, m))
        self.register_buffer("chol", torch.eye(m).repeat(k, 1, 1))
        self.register_buffer("centre", torch.zeros(c))
        self.register_buffer("basis", torch.eye(c)[:, :m].clone())
        self.register_buffer("residual_std", torch.zeros(()))

    @property
    def components(self) -> int:
        """Number of components in use (0 before the first fit)."""
        return int(torch.isfinite(self.log_weights).sum()) if bool(self.fitted) else 0

    @torch.no_grad()
    def fit(self, codes: Tensor, seed: int = 0) -> dict[str, float]:
        """Fit to ``codes`` ``(N, C)``; returns ``{"components", "bic", "seconds"}``-style figures."""
        from sklearn.mixture import GaussianMixture

        if codes.dim() != 2 or codes.shape[1] != self.code_dim:
            raise ValueError(f"codes must have shape (N, {self.code_dim}), got {tuple(codes.shape)}")
        z = codes.detach().double().cpu().numpy()
        if not np.isfinite(z).all():
            raise ValueError("codes hold non-finite values; the model diverged")
        rng = np.random.default_rng(seed)
        if len(z) > self.max_points:
            z = z[rng.choice(len(z), self.max_points, replace=False)]
        centre = z.mean(0)
        zc = z - centre
        # Principal directions of the codes; the trailing ones share one residual variance.
        _, s, vt = np.linalg.svd(zc, full_matrices=False)
        var = s**2 / max(len(z) - 1, 1)
        basis = vt[: self.sub_dim].T
        resid = float(var[self.sub_dim:].mean()) if len(var) > self.sub_dim else 0.0
        u = zc @ basis
        best, best_bic = None, np.inf
        for k in range(1, min(self.max_components, len(u) // 2) + 1):
            gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, random_state=seed, max_iter=200)
            gm.fit(u)
            bic = gm.bic(u)
            if bic < best_bic:
                best, best_bic = gm, bic
        assert best is not None
        self._store(best, centre, basis, resid)
        return {"components": float(best.n_components), "bic": float(best_bic)}

    def _store(self, gm, centre: np.ndarray, basis: np.ndarray, resid: float) -> None:
        k = gm.n_components
        dev = self.means.device

        def f(a: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)

        self.log_weights.fill_(-torch.inf)
        self.log_weights[:k] = f(np.log(gm.weights_))
        self.means.zero_()
        self.means[:k] = f(gm.means_)
        self.chol.copy_(torch.eye(self.sub_dim, device=dev).expand_as(self.chol))
        self.chol[:k] = f(np.linalg.cholesky(gm.covariances_))
        self.centre.copy_(f(centre))
        self.basis.copy_(f(basis))
        self.residual_std.fill_(float(np.sqrt(max(resid, 0.0))))
        self.fitted.fill_(True)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``(n, C)`` codes drawn from the fitted mixture."""
        if not bool(self.fitted):
            raise RuntimeError("GaussianMixturePrior.sample before fit")
        dev = self.means.device
        comp = torch.multinomial(self.log_weights.softmax(0), n, replacement=True, generator=generator)
        eps = torch.randn((n, self.sub_dim), device=dev, generator=generator)
        u = self.means[comp] + torch.einsum("nij,nj->ni", self.chol[comp], eps)
        z = self.centre + u @ self.basis.T
        if self.sub_dim < self.code_dim:
            # Isotropic residual in the discarded directions (projected off the basis).
            r = torch.randn((n, self.code_dim), device=dev, generator=generator)
            r = r - (r @ self.basis) @ self.basis.T
            z = z + self.residual_std * r
        return z

    @torch.no_grad()
    def log_prob(self, codes: Tensor) -> Tensor:
        """Log density of the mixture in the fitted subspace, ``(N, C) -> (N,)``."""
        u = (codes.to(self.means) - self.centre) @ self.basis
        k = self.components
        diff = u[:, None, :] - self.means[None, :k]
        chol = self.chol[:k]
        sol = torch.linalg.solve_triangular(chol[None], diff[..., None], upper=False).squeeze(-1)
        logdet = torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        ll = -0.5 * sol.pow(2).sum(-1) - logdet - 0.5 * self.sub_dim * np.log(2 * np.pi)
        return torch.logsumexp(ll + self.log_weights[:k], dim=1)
