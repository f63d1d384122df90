"""Spectral statistics of sets of 1-D signals ``(N, L)``.

Used to judge what novelty search adds to a data set of waveforms:

- the *dominant frequency* of each row and the entropy of its histogram
  over the data set (diversity of fundamental frequencies);
- the number of *distinct spectral peaks*: frequency bins that are a
  significant local maximum of the power spectrum in a noticeable share of
  the rows (captures harmonics and mixtures too);
- *spectral flatness* (geometric over arithmetic mean of the power spectrum;
  about 0.56 for white noise, near 0 for a pure tone) and the fraction of
  rows that are noise-like by it;
- where a reconstruction error sits between the data's and white noise's.

Frequencies are FFT bin indices = cycles per window; the DC bin is ignored.
"""
from __future__ import annotations

import numpy as np

#: Flatness above which a row counts as noise-like. White noise of 64 samples has
#: flatness 0.57 +- 0.08 (99% above 0.37); the waves data set, leakage from
#: non-integer frequencies included, stays below 0.25.
NOISE_FLATNESS = 0.35


def power_spectrum(x: np.ndarray) -> np.ndarray:
    """Power of the mean-removed rows at bins ``0..L//2``: ``(N, L) -> (N, L//2 + 1)``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"expected signals of shape (N, L) with L >= 4, got {x.shape}")
    x = x - x.mean(axis=1, keepdims=True)
    return np.abs(np.fft.rfft(x, axis=1)) ** 2


def dominant_frequency(x: np.ndarray) -> np.ndarray:
    """Bin of the largest non-DC power of each row: ``(N, L) -> (N,)`` int."""
    return np.argmax(power_spectrum(x)[:, 1:], axis=1) + 1


def histogram_entropy(labels: np.ndarray, num_bins: int) -> float:
    """Shannon entropy (nats) of the histogram of integer ``labels`` in ``[0, num_bins)``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_bins).astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def dominant_frequency_entropy(x: np.ndarray) -> float:
    """Entropy (nats) of the data set's dominant-frequency histogram."""
    x = np.asarray(x)
    return histogram_entropy(dominant_frequency(x), x.shape[1] // 2 + 1)


def peak_mask(x: np.ndarray, rel_power: float = 0.1) -> np.ndarray:
    """``(N, L//2)`` bool over bins ``1..L//2``: local maxima with at least ``rel_power`` of the row's top power."""
    p = power_spectrum(x)[:, 1:]
    left = np.pad(p, ((0, 0), (1, 0)), constant_values=-np.inf)[:, :-1]
    right = np.pad(p, ((0, 0), (0, 1)), constant_values=-np.inf)[:, 1:]
    top = p.max(axis=1, keepdims=True)
    return (p >= left) & (p >= right) & (p >= rel_power * np.maximum(top, 1e-300)) & (top > 0)


def distinct_peaks(x: np.ndarray, rel_power: float = 0.1, min_share: float = 0.01) -> int:
    """Number of frequency bins that are a significant peak in at least ``min_share`` of the rows."""
    x = np.asarray(x)
    if x.shape[0] == 0:
        return 0
    share = peak_mask(x, rel_power).mean(axis=0)
    return int((share >= min_share).sum())


def spectral_flatness(x: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of the non-DC power of each row: ``(N,)`` in ``[0, 1]``."""
    p = power_spectrum(x)[:, 1:] + 1e-12
    return np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1)


def noise_like_fraction(x: np.ndarray, threshold: float = NOISE_FLATNESS) -> float:
    """Share of rows whose spectral flatness exceeds ``threshold`` (0 for no rows)."""
    x = np.asarray(x)
    if x.shape[0] == 0:
        return 0.0
    return float((spectral_flatness(x) > threshold).mean())


def matched_white_noise(x: np.ndarray, n: int | None = None, seed: int | np.random.Generator | None = 0
                        ) -> np.ndarray:
    """White Gaussian noise ``(n, L)`` whose rows have the std of randomly chosen rows of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = x.shape[0] if n is None else int(n)
    std = x.std(axis=1)[rng.integers(0, x.shape[0], n)]
    return (rng.standard_normal((n, x.shape[1])) * std[:, None]).astype(np.float32)


def error_percentile(err: np.ndarray, err_data: np.ndarray, err_noise: np.ndarray) -> float:
    """Where the median error of ``err`` sits between the data's (0) and noise's (100), on a log scale.

    ``100 * (log m - log m_data) / (log m_noise - log m_data)`` with ``m`` the
    medians; below 0 means easier than the data, above 100 harder than noise.
    NaN when the data is not easier to code than noise.
    """
    m, md, mn = (float(np.median(np.asarray(e, dtype=np.float64))) for e in (err, err_data, err_noise))
    if not (md > 0 and mn > md and m > 0):
        return float("nan")
    return float(100.0 * (np.log(m) - np.log(md)) / (np.log(mn) - np.log(md)))
