"""Sample-quality metrics for generative models.

The pairwise metrics cost ``O(n^2)``; both sets are subsampled (seeded) to at
most ``max_points`` rows each (default ``MAX_POINTS`` = 4000) before they are
compared.
"""

from __future__ import annotations

import numpy as np
import torch

from freeenergy.data import hexamodal, hexamodal_mode_log_density

MAX_POINTS = 4000


def _subsample(x: np.ndarray, max_points: int, rng: np.random.Generator) -> torch.Tensor:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (N, D) array, got shape {x.shape}")
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    return torch.from_numpy(x)


def _pair(x: np.ndarray, y: np.ndarray, max_points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    a, b = _subsample(x, max_points, rng), _subsample(y, max_points, rng)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    return a, b


def energy_distance(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS, seed: int = 0) -> float:
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` between ``(N, D)`` and ``(M, D)``.

    V-statistic (pairs ``i = j`` included), so a set's distance to itself is
    exactly 0 and the value is never negative. Non-finite samples count as
    infinitely far (returns ``inf``).
    """
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("inf")
    a, b = _pair(x, y, max_points, seed)
    xy = torch.cdist(a, b).mean()
    xx = torch.cdist(a, a).mean()
    yy = torch.cdist(b, b).mean()
    return float(max(2 * xy - xx - yy, torch.tensor(0.0)))


def mmd(
    x: np.ndarray,
    y: np.ndarray,
    bandwidth: float | None = None,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> float:
    """Maximum mean discrepancy with a Gaussian kernel ``exp(-|a-b|^2 / (2 h^2))``.

    Returns ``sqrt`` of the biased (V-statistic) ``MMD^2``. Without
    ``bandwidth``, ``h`` is the median pairwise distance of the pooled sets
    (the median heuristic). Non-finite samples give ``inf``.
    """
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return float("inf")
    a, b = _pair(x, y, max_points, seed)
    d_ab, d_aa, d_bb = torch.cdist(a, b), torch.cdist(a, a), torch.cdist(b, b)
    if bandwidth is None:
        # Median pairwise distance of the pooled sets, from a seeded subset of
        # at most 1000 pooled points (the median is stable well before that).
        pooled = torch.cat([a, b])
        gen = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(pooled), generator=gen, device=gen.device)[:1000].to(pooled.device)
        d = torch.cdist(pooled[pick], pooled[pick])
        iu = torch.triu_indices(len(pick), len(pick), offset=1)
        bandwidth = float(d[iu[0], iu[1]].median()) if len(pick) > 1 else 1.0
        bandwidth = bandwidth if bandwidth > 0 else 1.0
    g = 1.0 / (2 * bandwidth**2)
    val = (-g * d_aa.pow(2)).exp().mean() + (-g * d_bb.pow(2)).exp().mean() - 2 * (-g * d_ab.pow(2)).exp().mean()
    return float(val.clamp_min(0).sqrt())


def constraint_mae(samples: np.ndarray) -> float:
    """Median ``|x3 - (x1 - x2)^2|`` of parabola samples ``(N, 3)`` (robust to outliers)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 3:
        raise ValueError(f"constraint_mae expects (N, 3) parabola samples, got {s.shape}")
    return float(np.median(np.abs(s[:, 2] - (s[:, 0] - s[:, 1]) ** 2)))


def hexamodal_density_threshold(mass: float = 0.99, n: int = 20000, seed: int = 12345) -> float:
    """Log-density level above which ``mass`` of the true hexamodal set lies."""
    y = hexamodal(n, seed)
    logp = np.logaddexp.reduce(hexamodal_mode_log_density(y), axis=1)
    return float(np.quantile(logp, 1 - mass))


def hexamodal_modes(samples: np.ndarray, mass: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``(on_mode (N,) bool, mode id (N,) int)`` for hexamodal samples ``(N, 2)``.

    A sample is on a mode when the set's exact density there is above the
    level that holds ``mass`` of the true distribution; its mode is the
    component with the largest density.
    """
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"hexamodal metrics expect (N, 2) samples, got {s.shape}")
    comp = hexamodal_mode_log_density(np.nan_to_num(s, nan=-1.0))
    logp = np.logaddexp.reduce(comp, axis=1)
    return logp >= hexamodal_density_threshold(mass), comp.argmax(1)


def mode_fractions(samples: np.ndarray, mass: float = 0.99) -> list[float]:
    """Fraction of all samples that fall on each of the six modes (a fair share is 1/6)."""
    on, mode = hexamodal_modes(samples, mass)
    return (np.bincount(mode[on], minlength=6) / max(len(samples), 1)).tolist()


def modes_covered(samples: np.ndarray, min_fraction: float = 0.01, mass: float = 0.99) -> int:
    """Number of the six modes (0-6) that receive at least ``min_fraction`` of all
    samples as on-mode points (a fair share is 1/6)."""
    on, mode = hexamodal_modes(samples, mass)
    counts = np.bincount(mode[on], minlength=6)
    return int((counts >= min_fraction * len(samples)).sum())


def off_mode_fraction(samples: np.ndarray, mass: float = 0.99) -> float:
    """Fraction of samples where the true density is below the ``mass`` level
    (about ``1 - mass`` for perfect samples)."""
    on, _ = hexamodal_modes(samples, mass)
    return float(1.0 - on.mean())


def support_threshold(train: np.ndarray, quantile: float = 0.95, max_points: int = 5000, seed: int = 0) -> float:
    """Distance scale of ``train`` ``(N, D)``: the ``quantile`` of its leave-one-out
    nearest-neighbour distances, in per-column standardised units."""
    rng = np.random.default_rng(seed)
    t = _subsample(train, max_points, rng)
    t = (t - t.mean(0)) / t.std(0).clamp_min(1e-12)
    d = torch.cdist(t, t)
    d.fill_diagonal_(torch.inf)
    return float(torch.quantile(d.min(1).values, quantile))


def support_fraction(samples: np.ndarray, train: np.ndarray, quantile: float = 0.95,
                     max_points: int = 5000, seed: int = 0) -> float:
    """Share of ``samples`` ``(S, D)`` within ``support_threshold(train, quantile)``
    of their nearest training point (columns standardised by the training set's
    mean and std). Fresh draws from the data's own distribution score about
    ``quantile``; non-finite samples count as off the support."""
    s = np.asarray(samples, dtype=np.float64)
    finite = np.isfinite(s).all(1)
    if not finite.any():
        return 0.0
    rng = np.random.default_rng(seed + 1)
    t = _subsample(train, max_points, rng)
    mu, sd = t.mean(0), t.std(0).clamp_min(1e-12)
    tau = support_threshold(train, quantile, max_points, seed)
    q = (_subsample(s[finite], max_points, rng) - mu) / sd
    near = torch.cat([torch.cdist(c, (t - mu) / sd).min(1).values for c in q.split(2000)])
    return float((near <= tau).double().mean()) * float(finite.mean())


def conditional_energy_distance(predicted: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Energy distance per condition between predicted and true draws, ``(M, K, O), (M, L, O) -> (M,)``.

    Row ``i`` compares the ``K`` predicted next observations of condition
    ``i`` (one ``(obs, action)``) with ``L`` draws of the true next
    observation of the same condition (V-statistic, as ``energy_distance``).
    """
    if predicted.dim() != 3 or true.dim() != 3 or predicted.shape[0] != true.shape[0] \
            or predicted.shape[2] != true.shape[2]:
        raise ValueError(f"expected (M, K, O) and (M, L, O), got {tuple(predicted.shape)} and {tuple(true.shape)}")
    a, b = predicted.double(), true.double()
    xy = torch.cdist(a, b).mean((1, 2))
    xx = torch.cdist(a, a).mean((1, 2))
    yy = torch.cdist(b, b).mean((1, 2))
    return (2 * xy - xx - yy).clamp_min(0.0)
