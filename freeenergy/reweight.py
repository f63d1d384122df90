"""Importance weights that unbias pooled umbrella-window samples, in torch (any device).

The MBAR equations solved by fixed-point iteration (:func:`self_consistent_free_energies`)
and the weights of the unbiased state (:func:`unbiasing_weights`), small enough for
online use, e.g. weighting a world model's training rows. Re-exported by
:mod:`freeenergy.umbrella`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from freeenergy.cv import harmonic_bias


def self_consistent_free_energies(u_kn: Tensor, n_k: Tensor, iters: int = 1000, tol: float = 1e-7) -> Tensor:
    """Window free energies ``f_k`` ``(K,)`` solving the MBAR equations by fixed-point iteration.

    ``f_k = -log sum_n exp(-u_kn) / sum_j N_j exp(f_j - u_jn)`` (reduced units,
    ``f_0 = 0``). A small torch solver for online use on any device; windows
    with ``N_k = 0`` get an estimate but carry no weight.
    """
    u_kn = torch.as_tensor(u_kn, dtype=torch.float64)
    n_k = torch.as_tensor(n_k, dtype=torch.float64, device=u_kn.device)
    log_nk = torch.log(n_k)
    f = torch.zeros(u_kn.shape[0], dtype=torch.float64, device=u_kn.device)
    for _ in range(int(iters)):
        log_w = -torch.logsumexp(log_nk[:, None] + f[:, None] - u_kn, dim=0)
        new = -torch.logsumexp(log_w[None, :] - u_kn, dim=1)
        new = new - new[0]
        if float((new - f).abs().max()) < tol:
            return new
        f = new
    return f


def unbiasing_weights(xi: Tensor, window: Tensor, centres: Tensor, kappa: float, kT: float = 1.0,
                      f_k: Tensor | None = None, n_k: Tensor | None = None,
                      normalise: bool = True, log: bool = False) -> tuple[Tensor, Tensor]:
    """Importance weights that turn pooled windowed samples into unbiased ones.

    A sample from window ``k``'s ensemble ``p(s) exp(-U_k(s)/kT) / Z_k``
    drawn among the pool gets weight ``1 / sum_j (N_j / N) exp(f_j - u_j(xi))``
    (the MBAR weight of the unbiased state), so that a weighted mean of any
    ``g(s)`` over the pool estimates ``E_p[g]``. ``xi`` ``(N,)`` CV values,
    ``window`` ``(N,)`` indices, ``centres`` ``(K,)``. ``f_k`` ``(K,)`` from
    :func:`self_consistent_free_energies` (solved on this pool if None);
    ``n_k`` ``(K,)`` the pool's window counts (counted from ``window`` if
    None), so that rows arriving later can be weighted like the pool's.
    Returns ``(weights (N,), f_k (K,))``; the weights have mean 1 with
    ``normalise``, else they are ``1 / sum_j (N_j / N) exp(f_j - u_j)`` as is.
    ``log``: the unnormalised weights' logarithms in float64 (samples far outside
    every window have weights beyond float32's range).
    """
    xi = torch.as_tensor(xi, dtype=torch.float64)
    centres = torch.as_tensor(centres, dtype=torch.float64, device=xi.device)
    window = torch.as_tensor(window, device=xi.device).long()
    u_kn = harmonic_bias(xi[None, :], centres[:, None], kappa) / kT
    if n_k is None:
        n_k = torch.bincount(window, minlength=centres.shape[0]).to(torch.float64)
    n_k = torch.as_tensor(n_k, dtype=torch.float64, device=xi.device)
    if f_k is None:
        f_k = self_consistent_free_energies(u_kn, n_k)
    f_k = torch.as_tensor(f_k, dtype=torch.float64, device=xi.device)
    log_w = -torch.logsumexp(torch.log(n_k / n_k.sum())[:, None] + f_k[:, None] - u_kn, dim=0)
    if log:
        return log_w, f_k
    if not normalise:
        return torch.exp(log_w).to(torch.float32), f_k
    w = torch.exp(log_w - log_w.max())
    return (w / w.mean()).to(torch.float32), f_k
