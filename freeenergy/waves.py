"""The waves data set: sine and square waves in a narrow frequency band.

Each row is one waveform of fixed ``length`` samples,
``a * shape(2 pi f t / length + phase)`` with ``t = 0..length-1``, where the
frequency ``f`` (cycles per window) is uniform in ``band``, the phase uniform
in ``[0, 2 pi)``, the amplitude ``a`` uniform in ``amplitude`` and the shape
``sin`` or ``sign(sin)`` with equal probability. It is the starting data of
the novelty-search experiment: narrow, so that anything new shows up.
"""
from __future__ import annotations

import numpy as np

SHAPES = ("sine", "square")


def make_waves(n: int, length: int = 64, band: tuple[float, float] = (3.0, 5.0),
               amplitude: tuple[float, float] = (0.5, 1.0), shapes: tuple[str, ...] = SHAPES,
               seed: int | np.random.Generator | None = 0, return_params: bool = False
               ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` waveforms ``(n, length)`` float32 (and their parameters if asked).

    Args:
        n: number of waveforms.
        length: samples per waveform.
        band: ``(f_lo, f_hi)`` frequency band in cycles per window; ``f_hi``
            must stay below the Nyquist limit ``length / 2``.
        amplitude: ``(a_lo, a_hi)`` amplitude range.
        shapes: subset of ``("sine", "square")`` drawn with equal probability.
        seed: seed or numpy Generator.
        return_params: also return ``{"freq", "phase", "amplitude", "shape"}`` ``(n,)`` arrays.
    """
    if n < 0 or length < 4:
        raise ValueError(f"need n >= 0 and length >= 4, got n={n}, length={length}")
    lo, hi = map(float, band)
    if not 0 < lo <= hi < length / 2:
        raise ValueError(f"band={band!r} must satisfy 0 < f_lo <= f_hi < length/2 = {length / 2}")
    a_lo, a_hi = map(float, amplitude)
    if not 0 < a_lo <= a_hi:
        raise ValueError(f"amplitude={amplitude!r} must satisfy 0 < a_lo <= a_hi")
    bad = [s for s in shapes if s not in SHAPES]
    if bad or not shapes:
        raise ValueError(f"shapes={shapes!r} must be a non-empty subset of {SHAPES}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    freq = rng.uniform(lo, hi, n)
    phase = rng.uniform(0.0, 2 * np.pi, n)
    amp = rng.uniform(a_lo, a_hi, n)
    shape = rng.integers(0, len(shapes), n)
    t = np.arange(length)
    arg = 2 * np.pi * freq[:, None] * t[None, :] / length + phase[:, None]
    s = np.sin(arg)
    square = np.array([shapes[i] == "square" for i in shape])
    # sign(sin) with sign(0) -> +1, so a square wave never has a zero sample.
    s = np.where(square[:, None], np.where(s >= 0, 1.0, -1.0), s)
    x = (amp[:, None] * s).astype(np.float32)
    if return_params:
        return x, {"freq": freq, "phase": phase, "amplitude": amp,
                   "shape": np.array([shapes[i] for i in shape])}
    return x
