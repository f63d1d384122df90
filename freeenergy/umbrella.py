"""Umbrella sampling along a collective variable, with MBAR/WHAM reweighting.

A collective variable (CV) ``xi(s)`` maps states ``(N, D)`` to ``(N,)``: a
direction in state space (:class:`LinearCV`), a direction in a world model's
latent space (:class:`LatentCV`), or a world model's free energy
(:class:`FreeEnergyCV`). Windows ``xi_1..xi_K`` carry harmonic biases

    U_k(s) = kappa/2 (xi(s) - xi_k)^2,

and each batched copy is assigned to one window. A sampler whose stationary
distribution is ``p(s) ~ exp(-V(s)/kT)`` and that feels the extra force
``-grad U_k`` samples ``p(s) exp(-U_k(s)/kT)`` exactly (e.g. overdamped
Langevin dynamics); pooling all windows and removing the biases with MBAR
(Shirts & Chodera 2008, via ``pymbar``) or WHAM (Kumar et al. 1992) gives
the unbiased density of ``xi`` and its free-energy profile (PMF)
``-kT log p(xi)``, rare regions included.

Energies handed to the estimators are *reduced*: ``u = U / kT``. ``kappa`` is
in the same energy unit as ``kT``. Every PMF here is in units of ``kT``.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Collective variables and online weights live in their own modules; this one is their public face.
from freeenergy.cv import FreeEnergyCV, LatentCV, LinearCV, autograd_cv_grad, bias_force, harmonic_bias  # noqa: F401
from freeenergy.reweight import self_consistent_free_energies, unbiasing_weights  # noqa: F401

# ---------------------------------------------------------------- windows and biases


def window_centres(lo: float, hi: float, num_windows: int) -> np.ndarray:
    """``num_windows`` evenly spaced centres from ``lo`` to ``hi`` inclusive: ``(K,)``."""
    if num_windows < 1:
        raise ValueError(f"num_windows must be >= 1, got {num_windows}")
    if not hi > lo and num_windows > 1:
        raise ValueError(f"window range must have hi > lo, got lo={lo}, hi={hi}")
    return np.linspace(float(lo), float(hi), int(num_windows))


def auto_kappa(centres: np.ndarray, kT: float, factor: float = 1.0) -> float:
    """Stiffness giving each window a thermal width ``sqrt(kT/kappa) = spacing/sqrt(factor)``.

    With the width about one spacing, neighbouring windows overlap well
    (unless the PMF is much steeper than the bias).
    """
    if len(centres) < 2:
        raise ValueError("auto_kappa needs at least two windows")
    spacing = float(np.min(np.diff(np.sort(centres))))
    return float(factor * kT / spacing**2)


def assign_windows(num_copies: int, num_windows: int) -> np.ndarray:
    """Window index of every copy, in contiguous nearly equal groups: ``(N,)`` int.

    Copy ``i`` goes to window ``i * K // N``; every window gets at least one
    copy when ``N >= K``.
    """
    if num_windows < 1 or num_copies < num_windows:
        raise ValueError(f"need num_copies >= num_windows >= 1, got {num_copies} copies, "
                         f"{num_windows} windows")
    return (np.arange(num_copies) * num_windows) // num_copies


def reduced_bias_matrix(xi_n: np.ndarray, centres: np.ndarray, kappa: float | np.ndarray,
                        kT: float) -> np.ndarray:
    """``u_kn = U_k(xi_n) / kT`` of every sample in every window: ``(K, N)``."""
    xi_n = np.asarray(xi_n, dtype=np.float64).reshape(-1)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 1)
    kap = np.broadcast_to(np.asarray(kappa, dtype=np.float64), (centres.shape[0],)).reshape(-1, 1)
    return harmonic_bias(xi_n[None, :], centres, kap) / float(kT)


# ---------------------------------------------------------------- correlated samples


def _pymbar() -> Any:
    """Import pymbar quietly (it logs banners about JAX and timeseries on import)."""
    logging.getLogger("pymbar").setLevel(logging.ERROR)
    import pymbar

    return pymbar


def statistical_inefficiency(series: np.ndarray) -> float:
    """``g = 1 + 2 tau`` of a 1-D time series ``(T,)`` (pymbar.timeseries); 1 if constant."""
    series = np.asarray(series, dtype=np.float64)
    if series.size < 4 or np.ptp(series) == 0:
        return 1.0
    pymbar = _pymbar()
    from pymbar.utils import ParameterError

    try:
        # The direct sum (fft=False) needs no statsmodels and stops where the correlation dies out.
        return float(pymbar.timeseries.statistical_inefficiency(series, fft=False))
    except ParameterError:  # e.g. a series with zero variance after the mean is removed
        return 1.0


def subsample_chains(xi_tn: np.ndarray, discard: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Roughly independent samples of each chain (column) of ``xi_tn`` ``(T, N)``.

    Drops the first ``discard`` steps, estimates each chain's statistical
    inefficiency ``g`` and keeps every ``ceil(g)``-th sample. Returns
    ``(t_idx, n_idx)``: the kept time and chain indices (``(M,)`` each), and
    ``g`` can be read from the spacing.
    """
    xi_tn = np.asarray(xi_tn, dtype=np.float64)
    if xi_tn.ndim != 2:
        raise ValueError(f"xi_tn must be (T, N), got shape {xi_tn.shape}")
    if not 0 <= discard < xi_tn.shape[0]:
        raise ValueError(f"discard={discard} must be in [0, T={xi_tn.shape[0]})")
    t_all, n_all = [], []
    for n in range(xi_tn.shape[1]):
        chain = xi_tn[discard:, n]
        stride = max(1, int(np.ceil(statistical_inefficiency(chain))))
        t = np.arange(discard, xi_tn.shape[0], stride)
        t_all.append(t)
        n_all.append(np.full_like(t, n))
    return np.concatenate(t_all), np.concatenate(n_all)


# ---------------------------------------------------------------- profiles


@dataclass
class PMF:
    """A free-energy profile along the CV, in units of kT.

    ``f`` and ``df`` are ``(B,)`` over the bins (NaN where a bin holds no
    sample), shifted so that the lowest bin is 0. ``f_k`` ``(K,)`` are the
    windows' reduced free energies, ``overlap`` the ``(K, K)`` MBAR overlap
    matrix (None for estimators without one).
    """

    edges: np.ndarray
    f: np.ndarray
    df: np.ndarray
    counts: np.ndarray
    f_k: np.ndarray | None = None
    overlap: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def covered(self) -> np.ndarray:
        """Bins with at least one sample: ``(B,)`` bool."""
        return self.counts > 0

    def density(self) -> np.ndarray:
        """Normalised probability density ``p(xi)`` per bin ``(B,)`` (0 where uncovered)."""
        width = np.diff(self.edges)
        p = np.where(self.covered, np.exp(-np.nan_to_num(self.f, nan=np.inf)), 0.0)
        return p / max(float((p * width).sum()), 1e-300)


def _shift_to_min(f: np.ndarray) -> np.ndarray:
    ok = np.isfinite(f)
    return f - (f[ok].min() if ok.any() else 0.0)


def histogram_pmf(xi_n: np.ndarray, edges: np.ndarray) -> PMF:
    """PMF of unbiased samples by histogram; ``df`` from Poisson counts (``1/sqrt(n)``)."""
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.histogram(np.asarray(xi_n).reshape(-1), bins=edges)[0]
    with np.errstate(divide="ignore"):
        f = -np.log(counts / np.diff(edges))
    f[counts == 0] = np.nan
    df = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), np.nan)
    return PMF(edges=edges, f=_shift_to_min(f), df=df, counts=counts)


def _window_counts(xi_n: np.ndarray, window_n: np.ndarray, k: int) -> np.ndarray:
    """Samples per window ``(K,)``; checks that every sample names one of ``k`` windows, none empty."""
    if xi_n.shape != window_n.shape:
        raise ValueError(f"xi_n {xi_n.shape} and window_n {window_n.shape} must have the same shape")
    if window_n.size and (window_n.min() < 0 or window_n.max() >= k):
        raise ValueError(f"window_n must index the {k} windows, got range "
                         f"[{window_n.min()}, {window_n.max()}]")
    n_k = np.bincount(window_n, minlength=k)
    if (n_k == 0).any():
        raise ValueError(f"every window needs samples; empty windows: {np.flatnonzero(n_k == 0).tolist()}")
    return n_k


def mbar_pmf(xi_n: np.ndarray, window_n: np.ndarray, centres: np.ndarray, kappa: float | np.ndarray,
             kT: float, edges: np.ndarray, min_overlap: float = 0.03) -> PMF:
    """Unbiased PMF of pooled windowed samples by MBAR (``pymbar.MBAR``, histogram bins).

    Args:
        xi_n: ``(N,)`` CV value of every (roughly independent) sample.
        window_n: ``(N,)`` window index of the sample's sampler.
        centres: ``(K,)`` window centres; kappa: scalar or ``(K,)`` stiffness.
        kT: thermal energy, the unit of ``kappa``'s energy.
        edges: ``(B+1,)`` bin edges along the CV.
        min_overlap: neighbouring windows with a smaller MBAR overlap warn.

    Returns a :class:`PMF` with MBAR's asymptotic uncertainties (from the
    normalisation of the unbiased density), window free energies, the
    overlap matrix, and the ``MBAR`` object in ``extra["mbar"]``.
    """
    pymbar = _pymbar()
    xi_n = np.asarray(xi_n, dtype=np.float64).reshape(-1)
    window_n = np.asarray(window_n).reshape(-1)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1)
    edges = np.asarray(edges, dtype=np.float64)
    n_k = _window_counts(xi_n, window_n, centres.shape[0])
    order = np.argsort(window_n, kind="stable")  # MBAR wants samples grouped by state
    xi_n, window_n = xi_n[order], window_n[order]
    u_kn = reduced_bias_matrix(xi_n, centres, kappa, kT)
    # A fine binned WHAM is cheap and lands within ~1e-3 of MBAR's window free energies;
    # starting there cuts MBAR's solve several-fold.
    fine = np.linspace(xi_n.min(), xi_n.max() + 1e-9, 200)
    init = wham_pmf(xi_n, window_n, centres, kappa, kT, fine, tol=1e-6).f_k
    with warnings.catch_warnings():
        # pymbar hands scipy solver options that some scipy versions do not know; harmless.
        warnings.filterwarnings("ignore", message="Unknown solver options")
        mbar = pymbar.MBAR(u_kn, n_k, verbose=False, initial_f_k=np.nan_to_num(np.asarray(init, dtype=np.float64)))
    counts = np.histogram(xi_n, bins=edges)[0]
    bin_n = np.digitize(xi_n, edges) - 1
    covered = np.flatnonzero(counts > 0)
    f = np.full(len(edges) - 1, np.nan)
    df = np.full(len(edges) - 1, np.nan)
    if covered.size:
        # p_b = <1[xi in bin b]> in the unbiased state (u = 0), with MBAR's asymptotic errors;
        # f_b = -log(p_b / width_b) and, to first order, df_b = sigma_b / p_b.
        indicators = (bin_n[None, :] == covered[:, None]).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = mbar.compute_multiple_expectations(indicators, np.zeros(xi_n.shape[0]))
        p = np.asarray(res["mu"], dtype=np.float64)
        sigma = np.asarray(res["sigma"], dtype=np.float64)
        good = p > 0
        f[covered[good]] = -np.log(p[good] / np.diff(edges)[covered[good]])
        df[covered[good]] = sigma[good] / p[good]
    f_k = np.asarray(mbar.f_k, dtype=np.float64)
    overlap = np.asarray(mbar.compute_overlap()["matrix"], dtype=np.float64)
    check_overlap(overlap, min_overlap)
    return PMF(edges=edges, f=_shift_to_min(f), df=df, counts=counts, f_k=f_k - f_k[0], overlap=overlap,
               extra={"mbar": mbar})


def unbiased_log_weights(mbar: Any) -> np.ndarray:
    """Log MBAR weight of every pooled sample in the unbiased state ``(N,)`` (sums to 1).

    Samples are in the order the MBAR object holds them: :func:`mbar_pmf` groups them by
    window with a stable sort.
    """
    # w_n = 1 / sum_k N_k exp(f_k - u_kn); the unbiased state has u = 0.
    log_denom = np.logaddexp.reduce(np.log(mbar.N_k)[:, None] + mbar.f_k[:, None] - mbar.u_kn, axis=0)
    log_w = -log_denom
    return log_w - np.logaddexp.reduce(log_w)


def wham_pmf(xi_n: np.ndarray, window_n: np.ndarray, centres: np.ndarray, kappa: float | np.ndarray,
             kT: float, edges: np.ndarray, tol: float = 1e-8, max_iter: int = 100_000) -> PMF:
    """Binned WHAM (biases evaluated at bin centres): an independent cross-check of MBAR.

    Iterates ``p_b = C_b / sum_k N_k exp(f_k - u_kb)`` and
    ``f_k = -log sum_b p_b exp(-u_kb)`` to self-consistency. ``df`` is the
    Poisson error ``1/sqrt(C_b)`` of each bin's total count (a lower bound).
    """
    xi_n = np.asarray(xi_n, dtype=np.float64).reshape(-1)
    window_n = np.asarray(window_n).reshape(-1)
    edges = np.asarray(edges, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1)
    n_k = np.bincount(window_n, minlength=centres.shape[0]).astype(np.float64)
    counts = np.histogram(xi_n, bins=edges)[0]
    mid = 0.5 * (edges[1:] + edges[:-1])
    u_kb = reduced_bias_matrix(mid, centres, kappa, kT)  # (K, B)
    keep = n_k > 0
    u_kb, n_k_used = u_kb[keep], n_k[keep]
    f_k = np.zeros(u_kb.shape[0])
    with np.errstate(divide="ignore"):
        log_c = np.log(counts.astype(np.float64))
    for _ in range(max_iter):
        log_p = log_c - np.logaddexp.reduce(np.log(n_k_used)[:, None] + f_k[:, None] - u_kb, axis=0)
        new = -np.logaddexp.reduce(log_p[None, :] - u_kb, axis=1)
        new -= new[0]
        if np.max(np.abs(new - f_k)) < tol:
            f_k = new
            break
        f_k = new
    f = -(log_p - np.log(np.diff(edges)))
    f[counts == 0] = np.nan
    df = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), np.nan)
    full_fk = np.full(centres.shape[0], np.nan)
    full_fk[keep] = f_k
    return PMF(edges=edges, f=_shift_to_min(f), df=df, counts=counts, f_k=full_fk)


# ---------------------------------------------------------------- diagnostics


def neighbour_overlaps(overlap: np.ndarray) -> np.ndarray:
    """``O[k, k+1]`` of an overlap matrix ``(K, K)``: ``(K-1,)``."""
    overlap = np.asarray(overlap)
    return np.array([overlap[k, k + 1] for k in range(overlap.shape[0] - 1)])


def check_overlap(overlap: np.ndarray, min_overlap: float = 0.03) -> np.ndarray:
    """Warn (``UserWarning``) naming neighbouring windows whose overlap is below ``min_overlap``.

    Returns the ``(K-1,)`` neighbour overlaps.
    """
    nb = neighbour_overlaps(overlap)
    bad = np.flatnonzero(nb < min_overlap)
    if bad.size:
        pairs = ", ".join(f"{k}-{k + 1} ({nb[k]:.3g})" for k in bad[:8])
        warnings.warn(f"umbrella windows do not overlap enough (< {min_overlap}): {pairs}"
                      f"{' ...' if bad.size > 8 else ''}; add windows, lower kappa or sample longer",
                      UserWarning, stacklevel=2)
    return nb


def histogram_overlap(xi_n: np.ndarray, window_n: np.ndarray, num_windows: int, bins: int = 50) -> np.ndarray:
    """Overlap of neighbouring windows' CV histograms, ``sum_b min(p_k, p_k+1)``: ``(K-1,)``.

    A quick check that needs no reweighting (1: identical, 0: disjoint).
    """
    xi_n = np.asarray(xi_n).reshape(-1)
    window_n = np.asarray(window_n).reshape(-1)
    edges = np.linspace(xi_n.min(), xi_n.max() + 1e-12, bins + 1)
    hists = []
    for k in range(num_windows):
        h = np.histogram(xi_n[window_n == k], bins=edges)[0].astype(np.float64)
        hists.append(h / max(h.sum(), 1.0))
    return np.array([np.minimum(hists[k], hists[k + 1]).sum() for k in range(num_windows - 1)])


# ---------------------------------------------------------------- references and errors


def pmf_by_quadrature(potential: Callable[[np.ndarray], np.ndarray], direction: np.ndarray,
                      bounds: tuple[tuple[float, float], tuple[float, float]], edges: np.ndarray,
                      kT: float, grid: int = 800, origin: np.ndarray | None = None) -> np.ndarray:
    """Exact PMF of a 2-D Boltzmann density ``exp(-V/kT)`` along a linear CV, ``(B,)`` in kT.

    Integrates the density on a ``grid x grid`` mesh over ``bounds`` and bins
    the projection ``(s - origin) . direction`` with ``edges`` (the bin-averaged
    density, the quantity a histogram estimates). Empty bins are NaN; the
    minimum is 0.
    """
    (x0, x1), (y0, y1) = bounds
    xs = np.linspace(x0, x1, grid)
    ys = np.linspace(y0, y1, grid)
    xx, yy = np.meshgrid(xs, ys, indexing="ij")
    pts = np.stack([xx.ravel(), yy.ravel()], axis=1)
    v = np.asarray(potential(pts), dtype=np.float64).reshape(-1)
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    o = np.zeros(2) if origin is None else np.asarray(origin, dtype=np.float64)
    xi = (pts - o) @ d
    log_w = -(v - v.min()) / kT
    edges = np.asarray(edges, dtype=np.float64)
    idx = np.digitize(xi, edges) - 1
    ok = (idx >= 0) & (idx < len(edges) - 1)
    mass = np.bincount(idx[ok], weights=np.exp(log_w[ok]), minlength=len(edges) - 1)
    with np.errstate(divide="ignore"):
        f = -np.log(mass / np.diff(edges))
    f[mass == 0] = np.nan
    return _shift_to_min(f)


def pmf_rmse(estimate: np.ndarray, exact: np.ndarray, mask: np.ndarray | None = None) -> float:
    """RMSE (kT) between two PMFs over ``mask`` bins where both are finite, after the best shift.

    PMFs are defined up to a constant; the shift minimising the RMSE is the
    mean difference. NaN if no bin qualifies.
    """
    estimate, exact = np.asarray(estimate, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    ok = np.isfinite(estimate) & np.isfinite(exact)
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    if not ok.any():
        return float("nan")
    diff = estimate[ok] - exact[ok]
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)))
