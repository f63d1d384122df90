"""Exploration maps and plots, drawn apart from any training step.

Every function takes plain arrays (numpy or torch) and returns a matplotlib
``Figure``; saving and sending to W&B is the caller's job
(``ctx.save_figure``). Nothing here trains or steps anything. Figures are built without pyplot, so
no GUI backend is touched and nothing stays open after the figure is dropped;
they use constrained layout, so saving needs no (slow) ``bbox_inches="tight"``.

- :func:`visitation_counts` bins ``map_xy`` points into an ``(H, W)`` grid.
- :func:`plot_exploration_map` draws a visitation heatmap with walls and a
  fixed colour scale, so maps from different steps compare by eye.
- :func:`plot_coverage_curve` draws coverage (or any curve) against steps.
- :func:`plot_latent_map` projects world-model codes to 2-D (PCA) and colours
  them by free energy.
- :func:`plot_side_by_side` puts figures or images next to each other.

The umbrella-sampling figures (profiles, windows) are in :mod:`experiments.io.umbrella_figures`.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.image as mpimg
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure

Bounds = tuple[tuple[float, float], tuple[float, float]]


def _np(x: Any) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device) or nested list."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def visitation_counts(xy: Any, bounds: Bounds, shape: tuple[int, int]) -> np.ndarray:
    """Histogram of map points.

    Args:
        xy: ``(N, 2)`` map coordinates (x, y).
        bounds: ``((xmin, xmax), (ymin, ymax))``.
        shape: ``(H, W)`` bins along y (rows) and x (columns).

    Returns:
        ``(H, W)`` float counts; row 0 is ``ymin``. Points outside the bounds
        are clipped into the edge bins (an agent at the edge still counts).
    """
    xy = _np(xy).reshape(-1, 2).astype(float)
    (xmin, xmax), (ymin, ymax) = bounds
    h, w = shape
    col = np.clip(((xy[:, 0] - xmin) / max(xmax - xmin, 1e-12) * w).astype(int), 0, w - 1)
    row = np.clip(((xy[:, 1] - ymin) / max(ymax - ymin, 1e-12) * h).astype(int), 0, h - 1)
    counts = np.zeros((h, w), dtype=float)
    np.add.at(counts, (row, col), 1.0)
    return counts


def percent(share: float) -> str:
    """``share`` in [0, 1] as a percentage with one decimal that never rounds a share short of the
    whole up to 100% (0.9996 -> 99.9%), nor a share above nothing down to 0%."""
    value = 100.0 * float(share)
    if value != value:
        return "n/a"
    if 99.95 <= value < 100.0:
        return "99.9%"
    if 0.0 < value < 0.05:
        return "<0.1%"
    return f"{value:.1f}%"


def coverage(counts: Any, reachable: Any | None = None) -> float:
    """Fraction of (reachable) cells visited at least once, in [0, 1]."""
    c = _np(counts) > 0
    if reachable is None:
        return float(c.mean()) if c.size else 0.0
    r = _np(reachable).astype(bool)
    return float((c & r).sum() / max(int(r.sum()), 1))


def plot_exploration_map(counts: Any, bounds: Bounds, walls: Any | None = None, vmax: float | None = None,
                         title: str = "", log: bool = False, ax: Any | None = None,
                         cmap: str = "viridis", xlabel: str = "x", ylabel: str = "y",
                         start: Any | None = None, per_copy: bool = False) -> Figure:
    """Visitation heatmap over the map plane.

    Args:
        counts: ``(H, W)`` visit counts (row 0 at ``ymin``).
        bounds: ``((xmin, xmax), (ymin, ymax))`` of the map plane.
        walls: optional ``(H', W')`` bool grid drawn in dark grey on top
            (may differ in resolution from ``counts``; it spans the same bounds).
        vmax: fixed top of the colour scale; pass the same value at every step
            so maps compare by eye. ``None`` scales to this map's maximum.
        title: figure title.
        log: logarithmic colour scale (visits are usually heavy-tailed).
        ax: draw into this axes instead of a new figure (whose figure is returned).
        xlabel, ylabel, start, per_copy: axis names, start positions to star (``(x, y)`` or
            ``(K, 2)``), and whether counts are per copy (else summed over copies).
    """
    counts = _np(counts).astype(float)
    if counts.ndim != 2:
        raise ValueError(f"counts must be an (H, W) array, got shape {counts.shape}")
    (xmin, xmax), (ymin, ymax) = bounds
    cax = None
    if ax is None:
        # Fixed axes rectangles instead of a layout engine: maps are drawn often, and
        # laying out tick labels costs more than drawing the map itself.
        fig = Figure(figsize=(4.4, 3.6))
        ax = fig.add_axes((0.13, 0.12, 0.66, 0.78))
        cax = fig.add_axes((0.82, 0.12, 0.035, 0.78))
    else:
        fig = ax.figure
    top = float(vmax) if vmax is not None else max(float(counts.max(initial=0.0)), 1.0)
    # Unvisited cells (0) are masked and drawn white, with a legend entry, on either scale.
    data = np.ma.masked_less_equal(counts, 0.0)
    if log:
        norm = LogNorm(vmin=1.0, vmax=max(top, 1.0 + 1e-6))
    else:
        norm = Normalize(vmin=0.0, vmax=max(top, 1e-12))
    cm = matplotlib.colormaps[cmap].with_extremes(bad="white")
    im = ax.imshow(data, origin="lower", extent=(xmin, xmax, ymin, ymax), cmap=cm, norm=norm,
                   interpolation="nearest", aspect="auto")
    if walls is not None:
        w = _np(walls).astype(bool)
        wall_img = np.ma.masked_where(~w, np.ones_like(w, dtype=float))
        ax.imshow(wall_img, origin="lower", extent=(xmin, xmax, ymin, ymax),
                  cmap=ListedColormap(["#333333"]), vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    label = ("visits per copy" if per_copy else "visits, all copies") + (" (log)" if log else "")
    if cax is not None:
        fig.colorbar(im, cax=cax, label=label)
    else:
        fig.colorbar(im, ax=ax, label=label)
    if start is not None:
        mark_start(ax, start, legend=False)
    _legend(ax, walls is not None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return fig


def mark_start(ax: Any, start: Any, legend: bool = True) -> None:
    """Star the ``(x, y)`` or ``(K, 2)`` start positions on a map, with a legend entry."""
    pts = _np(start).reshape(-1, 2)
    ax.scatter(pts[:, 0], pts[:, 1], marker="*", s=90, c="white", edgecolors="black", linewidths=0.6,
               zorder=3, label="start")
    if legend:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.7)


def _legend(ax: Any, walls: bool) -> None:
    """The map's legend: white is unvisited, dark grey a wall, a star a start position."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="white", edgecolor="0.5", label="unvisited")]
    if walls:
        handles.append(Patch(facecolor="#333333", edgecolor="0.5", label="wall"))
    handles += [h for h in ax.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.7)


def plot_coverage_curve(steps: Sequence[float], curves: dict[str, Sequence[float]], ylabel: str = "coverage",
                        title: str = "", xlabel: str = "steps per copy") -> Figure:
    """One line per label against ``steps``.

    Args:
        steps: ``(T,)`` x values shared by every curve (a curve may be shorter;
            it is drawn against the first ``len(curve)`` steps).
        curves: label -> ``(T,)`` values, e.g. ``{"afe": [...], "random": [...]}``.
        xlabel: what a step is (runs log per copy: all copies advance one step together).
    """
    fig = Figure(figsize=(4.8, 3.4), layout="constrained")
    ax = fig.add_subplot()
    x = _np(steps).astype(float).ravel()
    for label, ys in curves.items():
        y = _np(ys).astype(float).ravel()
        n = min(len(x), len(y))
        ax.plot(x[:n], y[:n], label=str(label))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if curves:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def pca_2d(codes: Any) -> np.ndarray:
    """``(N, d)`` -> ``(N, 2)`` projection on the two leading principal axes (numpy SVD).

    Codes of dimension 1 get a zero second axis; dimension 2 is only centred.
    The sign of each axis is fixed (largest-magnitude loading positive) so the
    same codes always give the same picture.
    """
    z = _np(codes).astype(float)
    if z.ndim != 2:
        raise ValueError(f"codes must be an (N, d) array, got shape {z.shape}")
    z = z - z.mean(axis=0, keepdims=True)
    n, d = z.shape
    if d == 1 or n < 2:
        out = np.zeros((n, 2))
        out[:, : min(d, 2)] = z[:, : min(d, 2)]
        return out
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1.0
    proj = z @ (axes * signs[:, None]).T
    if proj.shape[1] < 2:
        proj = np.concatenate([proj, np.zeros((n, 2 - proj.shape[1]))], axis=1)
    return proj


def plot_latent_map(codes: Any, free_energy: Any, title: str = "latent space") -> Figure:
    """Codes projected to 2-D (PCA), coloured by free energy.

    Args:
        codes: ``(N, d)`` world-model codes.
        free_energy: ``(N,)`` free energy (or any score) per code; non-finite
            values are drawn grey.
    """
    xy = pca_2d(codes)
    fe = _np(free_energy).astype(float).ravel()
    if fe.shape[0] != xy.shape[0]:
        raise ValueError(f"free_energy has {fe.shape[0]} values for {xy.shape[0]} codes")
    fig = Figure(figsize=(4.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ok = np.isfinite(fe)
    if (~ok).any():
        ax.scatter(xy[~ok, 0], xy[~ok, 1], s=6, c="lightgrey", label="non-finite")
    sc = ax.scatter(xy[ok, 0], xy[ok, 1], s=6, c=fe[ok], cmap="magma")
    if ok.any():
        fig.colorbar(sc, ax=ax, label="free energy")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    return fig


def _to_image(item: Any) -> np.ndarray:
    """A Figure, a PNG path or an (H, W[, C]) array -> an RGB(A) array."""
    if isinstance(item, Figure):
        buf = io.BytesIO()
        item.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        buf.seek(0)
        return mpimg.imread(buf, format="png")
    if isinstance(item, (str, Path)):
        return mpimg.imread(str(item))
    return _np(item)


def plot_side_by_side(items: Sequence[Any], titles: Sequence[str] | None = None, suptitle: str = "") -> Figure:
    """Figures, PNG paths or image arrays next to each other in one row.

    Figures passed in are rendered to pixels first.
    """
    if not items:
        raise ValueError("plot_side_by_side needs at least one figure or image")
    images = [_to_image(it) for it in items]
    titles = list(titles or [""] * len(images))
    widths = [im.shape[1] / max(im.shape[0], 1) for im in images]
    # constrained layout keeps titles and suptitle apart (tight_layout ignores the suptitle)
    fig = Figure(figsize=(3.6 * sum(widths) + 0.4, 4.2), layout="constrained")
    axes = fig.subplots(1, len(images), gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, im, t in zip(axes[0], images, titles + [""] * (len(images) - len(titles))):
        ax.imshow(im, cmap=None if im.ndim == 3 else "gray")
        ax.set_axis_off()
        if t:
            ax.set_title(t)
    if suptitle:
        fig.suptitle(suptitle, fontweight="bold")
    return fig


# ---------------------------------------------------------------- umbrella sampling and novelty


def plot_waveform_gallery(waves: Any, title: str = "", ncols: int = 4) -> Figure:
    """Small multiples of 1-D waveforms ``(M, L)``, one panel each."""
    w = _np(waves).astype(float)
    if w.ndim != 2 or w.shape[0] == 0:
        raise ValueError(f"plot_waveform_gallery needs waveforms of shape (M, L) with M >= 1, got {w.shape}")
    ncols = max(1, min(ncols, w.shape[0]))
    nrows = int(np.ceil(w.shape[0] / ncols))
    fig = Figure(figsize=(2.2 * ncols, 1.3 * nrows + 0.4))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    lim = max(1.0, float(np.abs(w).max()))
    for i, ax in enumerate(axes.ravel()):
        if i < w.shape[0]:
            ax.plot(w[i], lw=1.0)
            ax.set_ylim(-1.1 * lim, 1.1 * lim)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
