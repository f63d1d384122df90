"""Data sets for the generative experiments: synthetic (seeded) and the user's own.

- ``parabola``: ``x1, x2 ~ N(0, 1)``, ``x3 = (x1 - x2)^2`` (the RAE source's parabola test).
- ``hexamodal``: six arcs in the unit square (the source's notebook); its exact
  density is ``hexamodal_log_density``.
- ``load_array``: a user's ``(N, D)`` array from ``.npy`` or ``.csv``.
- ``Standardiser``: per-column affine map to zero mean, unit variance and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SYNTHETIC = ("parabola", "hexamodal")
#: Radial and angular noise scales of the hexamodal set.
_HEX_R_STD = 0.2
_HEX_THETA_STD = 0.1
_HEX_SCALE = 1.5


def parabola(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 3)`` float32: ``x1, x2 ~ N(0, 1)``, ``x3 = (x1 - x2)^2``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    x[:, 2] = (x[:, 0] - x[:, 1]) ** 2
    return x.astype(np.float32)


def hexamodal(n: int, seed: int = 0, return_modes: bool = False):
    """``(n, 2)`` float32 points of the six-mode set (and ``(n,)`` mode ids if asked).

    ``k ~ U{0,1,2}``, ``m ~ U{1,2}``, ``e ~ N(0, I2)``, ``r = m + 0.2 e2``,
    ``theta = 2 pi k / 3 + 0.2 m + 0.1 m e1``, ``p = (r sin theta, r cos theta)``,
    ``y = sigmoid(1.5 p)``. The mode id is ``2 k + (m - 1)``.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    m = rng.integers(1, 3, n)
    e = rng.standard_normal((n, 2))
    r = m + _HEX_R_STD * e[:, 1]
    theta = 2 * np.pi * k / 3 + 0.2 * m + _HEX_THETA_STD * m * e[:, 0]
    p = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    y = (1.0 / (1.0 + np.exp(-_HEX_SCALE * p))).astype(np.float32)
    if return_modes:
        return y, (2 * k + (m - 1)).astype(np.int64)
    return y


def hexamodal_mode_log_density(y: np.ndarray) -> np.ndarray:
    """Exact log-density of each of the six modes at ``y`` ``(n, 2)``: ``(n, 6)``.

    Each entry includes the mode's weight 1/6, so ``logsumexp`` over the last
    axis is the log-density of the mixture. Points outside the open unit
    square get ``-inf``.
    """
    y = np.asarray(y, dtype=np.float64)
    inside = np.all((y > 0) & (y < 1), axis=1)
    yc = np.clip(y, 1e-12, 1 - 1e-12)
    p = np.log(yc / (1 - yc)) / _HEX_SCALE
    # y = sigmoid(1.5 p): dp/dy = 1 / (1.5 y (1 - y)) per coordinate.
    log_jac = -np.log(_HEX_SCALE * yc * (1 - yc)).sum(1)
    r = np.hypot(p[:, 0], p[:, 1])
    theta = np.arctan2(p[:, 0], p[:, 1])
    out = np.empty((y.shape[0], 6))
    for k in range(3):
        for m in (1, 2):
            mu = 2 * np.pi * k / 3 + 0.2 * m
            dtheta = (theta - mu + np.pi) % (2 * np.pi) - np.pi
            s_t = _HEX_THETA_STD * m
            log_r = -0.5 * ((r - m) / _HEX_R_STD) ** 2 - math.log(_HEX_R_STD * math.sqrt(2 * math.pi))
            log_t = -0.5 * (dtheta / s_t) ** 2 - math.log(s_t * math.sqrt(2 * math.pi))
            # Polar -> Cartesian: density in p is density in (r, theta) over r. The
            # 1/r spike at the centre holds < 1e-6 of the mass (r ~ N(m, 0.2^2),
            # m >= 1) and is cut off at r = 0.1, so the centre is not a "mode".
            log_inv_r = -np.log(np.maximum(r, 0.1))
            out[:, 2 * k + (m - 1)] = math.log(1 / 6) + log_r + log_t + log_inv_r + log_jac
    out[~inside] = -np.inf
    return out


def make_synthetic(name: str, n: int, seed: int = 0) -> np.ndarray:
    """``(n, D)`` float32 from the synthetic set ``name`` (one of ``SYNTHETIC``)."""
    if name == "parabola":
        return parabola(n, seed)
    if name == "hexamodal":
        return hexamodal(n, seed)
    raise ValueError(f"unknown synthetic data set {name!r}; valid: {list(SYNTHETIC)}")


def load_array(path: str | Path) -> np.ndarray:
    """Load a user's data set ``(N, D)`` float32 from ``.npy`` or ``.csv``.

    A CSV may have one header line of column names. Raises ``FileNotFoundError``
    for a missing file and ``ValueError`` for an unknown extension, a shape
    other than ``(N, D)`` with ``N >= 2``, non-numeric content, or NaN/inf.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path} (data.path)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # truncated, pickled objects, not an .npy at all
            raise ValueError(f"cannot read data file {path} as a numeric .npy array: {exc}") from exc
        if not isinstance(arr, np.ndarray):  # an .npz archive renamed .npy loads as an NpzFile
            arr.close()
            raise ValueError(f"data file {path} is an .npz archive, not an .npy array; save one array "
                             f"with np.save or rename it .npz and extract the array")
    elif suffix == ".csv":
        arr = _load_csv(path)
    else:
        raise ValueError(f"data file {path} must end in .npy or .csv, got {suffix!r}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"data file {path} holds {arr.dtype} values; expected real numbers")
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(
            f"data file {path} has shape {arr.shape}; expected a 2-D array (N, D) with N >= 2 rows"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"data file {path} contains {int(bad.sum())} NaN/inf value(s), first in row(s) "
            f"{rows[:5].tolist()}"
        )
    huge = np.abs(arr) > MAX_ABS
    if huge.any():
        row, col = (int(i[0]) for i in np.nonzero(huge))
        raise ValueError(
            f"data file {path} holds {arr[row, col]:.3g} (row {row}, column {col}) and {int(huge.sum()) - 1} more "
            f"beyond +-{MAX_ABS:.0e}: models train in float32, where such values (and their squares) overflow; "
            f"the data is at fault, not the learning rate: rescale it (e.g. to units near 1)"
        )
    return arr.astype(np.float32)


#: Largest magnitude a data value may have: beyond it float32 training overflows (squares pass 3.4e38).
MAX_ABS = 1e18


def _load_csv(path: Path) -> np.ndarray:
    # utf-8-sig: a byte-order mark (Excel's CSVs) must not turn the first data row into a "header"
    try:
        with path.open(encoding="utf-8-sig") as f:
            first = f.readline()
    except UnicodeDecodeError as exc:
        raise ValueError(f"data file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header of column names
    try:
        arr = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"data file {path} is not a numeric CSV: {exc}") from exc
    return arr


def split(x: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle rows with ``seed`` and split into ``(train, test)``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    idx = np.random.default_rng(seed).permutation(len(x))
    n_test = max(2, int(round(test_fraction * len(x))))
    if len(x) - n_test < 2:
        raise ValueError(f"{len(x)} rows are too few to hold out {test_fraction:g} of them and keep >= 2 "
                         f"rows for training and >= 2 for the held-out reference")
    return x[idx[n_test:]], x[idx[:n_test]]


@dataclass(frozen=True)
class Standardiser:
    """Per-column affine map ``(x - mean) / std`` and its inverse.

    ``mean`` and ``std`` are ``(D,)``; columns with zero spread keep std 1.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        """Fit to ``(N, D)`` data."""
        x = np.asarray(x, dtype=np.float64)
        std = x.std(0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(mean=x.mean(0), std=std)

    @classmethod
    def identity(cls, dim: int) -> Standardiser:
        """The map that changes nothing, for ``dim`` columns."""
        return cls(mean=np.zeros(dim), std=np.ones(dim))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Data space -> model space, ``(N, D)`` float32."""
        return ((np.asarray(x) - self.mean) / self.std).astype(np.float32)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Model space -> data space, ``(N, D)`` float32."""
        return (np.asarray(x) * self.std + self.mean).astype(np.float32)
