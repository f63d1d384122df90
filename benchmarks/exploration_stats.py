"""Statistics of the exploration protocol: means with confidence intervals, ratios, Welch's test.

Every function takes per-seed values (one number per seed) and returns plain
floats (``None`` where a figure is undefined, e.g. a ratio to a mean of zero),
so the protocol's JSON needs no conversion.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

BOOTSTRAP = 10_000


def _finite(values: Sequence[float | None]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Sequence[float | None], level: float = 0.95) -> dict:
    """Mean, std (ddof 1), Student-t interval of the mean, n, and the values."""
    from scipy import stats

    arr = _finite(values)
    n = int(arr.size)
    if n == 0:
        return {"mean": None, "std": None, "ci": [None, None], "n": 0, "values": []}
    mean = float(arr.mean())
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci": [mean - half, mean + half], "n": n,
            "values": [float(v) for v in arr]}


def t_band(curves: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t band of the mean per column: ``curves`` (seeds, points) -> 3 x (points,)."""
    from scipy import stats

    n = curves.shape[0]
    mean = curves.mean(axis=0)
    if n < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + level / 2, n - 1) * curves.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def ratio_ci(a: Sequence[float | None], b: Sequence[float | None], level: float = 0.95,
             resamples: int = BOOTSTRAP, seed: int = 0) -> dict:
    """Ratio of means ``mean(a) / mean(b)`` with a percentile-bootstrap interval.

    Seeds of ``a`` and ``b`` are resampled independently (they are independent runs).
    """
    x, y = _finite(a), _finite(b)
    if x.size == 0 or y.size == 0 or y.mean() == 0:
        return {"ratio": None, "ci": [None, None]}
    rng = np.random.default_rng(seed)
    mx = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    my = y[rng.integers(0, y.size, size=(resamples, y.size))].mean(axis=1)
    ok = my > 0
    boots = mx[ok] / my[ok]
    lo, hi = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2]) if boots.size else (np.nan, np.nan)
    return {"ratio": float(x.mean() / y.mean()), "ci": [_num(lo), _num(hi)]}


def welch_p(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Two-sided p-value of Welch's t-test (unequal variances); None when undefined."""
    from scipy import stats

    x, y = _finite(a), _finite(b)
    if x.size < 2 or y.size < 2:
        return None
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    with warnings.catch_warnings():  # a constant sample (e.g. coverage 1.0 on every seed) is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        return _num(stats.ttest_ind(x, y, equal_var=False).pvalue)


def intervals_overlap(a: dict, b: dict) -> bool | None:
    """Whether two ``mean_ci`` intervals overlap; None if either is undefined."""
    (a0, a1), (b0, b1) = a["ci"], b["ci"]
    if None in (a0, a1, b0, b1):
        return None
    return bool(a0 <= b1 and b0 <= a1)


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def paired_ratio_ci(a: Sequence[float | None], b: Sequence[float | None], level: float = 0.95,
                    resamples: int = BOOTSTRAP, seed: int = 0) -> dict:
    """``mean(a) / mean(b)`` over seeds run in pairs (same seed, same world), with a paired bootstrap.

    Seeds are resampled together, so the world each seed drew cancels out of the
    interval; ``wins`` counts the seeds where ``a > b``.
    """
    pairs = [(float(x), float(y)) for x, y in zip(a, b) if x is not None and y is not None]
    if not pairs:
        return {"ratio": None, "ci": [None, None], "wins": 0, "pairs": 0}
    x, y = np.array(pairs).T
    if y.mean() == 0:
        return {"ratio": None, "ci": [None, None], "wins": int((x > y).sum()), "pairs": len(pairs)}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    my = y[idx].mean(axis=1)
    ok = my > 0
    boots = x[idx].mean(axis=1)[ok] / my[ok]
    lo, hi = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2]) if boots.size else (np.nan, np.nan)
    return {"ratio": float(x.mean() / y.mean()), "ci": [_num(lo), _num(hi)], "wins": int((x > y).sum()),
            "pairs": len(pairs)}
