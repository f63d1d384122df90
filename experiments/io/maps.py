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


def plot_pmf(centres: Any, exact: Any, estimates: dict[str, Any], uncertainty: dict[str, Any] | None = None,
             eval_kT: float | None = None, kT: float | None = None) -> Figure:
    """Free-energy profiles (in kT) along a collective variable against the exact one.

    Args:
        centres: ``(B,)`` bin centres.
        exact: ``(B,)`` exact PMF (NaN where undefined).
        estimates: name -> ``(B,)`` estimated PMF (NaN where no sample fell).
        uncertainty: name -> ``(B,)`` one-sigma errors drawn as bands.
        eval_kT: shade the CV range where the exact PMF exceeds this (not scored).
        kT: shown in the title.
    """
    c = _np(centres).astype(float)
    ex = _np(exact).astype(float)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    ax.plot(c, ex, color="black", lw=2.2, label="exact (quadrature)")
    for name, f in estimates.items():
        f = _np(f).astype(float)
        line = ax.plot(c, f, marker=".", lw=1.2, label=name)[0]
        if uncertainty and name in uncertainty:
            df = _np(uncertainty[name]).astype(float)
            ax.fill_between(c, f - df, f + df, color=line.get_color(), alpha=0.25, lw=0)
    if eval_kT is not None:
        out = ~(np.isfinite(ex) & (ex <= eval_kT))
        ax.fill_between(c, 0, 1, where=out, transform=ax.get_xaxis_transform(), color="grey", alpha=0.12,
                        lw=0, label=f"not scored (> {eval_kT:g} kT)")
    top = np.nanmax(ex[np.isfinite(ex)]) if np.isfinite(ex).any() else 1.0
    ax.set_ylim(-1.0, min(top, (eval_kT or top) * 1.6) + 1.0)
    ax.set_xlabel("collective variable xi")
    ax.set_ylabel("PMF / kT")
    ax.set_title("free-energy profile" + (f" (kT = {kT:g})" if kT is not None else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_window_maps(xy: Any, window: Any, bounds: Bounds, potential_grid: Any | None = None,
                     direction: Any | None = None, centres: Any | None = None, title: str = "") -> Figure:
    """Positions visited by each umbrella window (colour = window) over the potential's contours.

    Args:
        xy: ``(M, 2)`` positions; window: ``(M,)`` window index of each.
        bounds: map bounds; potential_grid: ``(G, G)`` potential on a regular grid over the bounds.
        direction: ``(2,)`` CV direction; centres: ``(K,)`` window centres, marked along the
            line through the origin's projection.
    """
    pts = _np(xy).reshape(-1, 2).astype(float)
    win = _np(window).reshape(-1).astype(int)
    (x0, x1), (y0, y1) = bounds
    fig = Figure(figsize=(5.6, 4.8))
    ax = fig.subplots()
    if potential_grid is not None:
        v = _np(potential_grid).astype(float)
        levels = np.linspace(np.nanmin(v), np.nanmin(v) + 200.0, 21)
        ax.contour(np.linspace(x0, x1, v.shape[1]), np.linspace(y0, y1, v.shape[0]), v, levels=levels,
                   colors="grey", linewidths=0.5)
    k = max(int(win.max()) + 1, 1) if win.size else 1
    cmap = matplotlib.colormaps["turbo"]
    rng = np.random.default_rng(0)
    sel = rng.permutation(pts.shape[0])[:40000]  # enough points to see every window
    ax.scatter(pts[sel, 0], pts[sel, 1], c=win[sel], cmap=cmap, vmin=0, vmax=max(k - 1, 1), s=1, alpha=0.4,
               rasterized=True)
    if direction is not None and centres is not None:
        d = _np(direction).astype(float)
        d = d / np.linalg.norm(d)
        for i, xi in enumerate(_np(centres).astype(float)):
            # Each window's centre is a line xi(s) = xi_k across the map, perpendicular to d.
            p = xi * d
            t = np.array([-d[1], d[0]])
            seg = np.stack([p - 3 * t, p + 3 * t])
            ax.plot(seg[:, 0], seg[:, 1], color=cmap(i / max(k - 1, 1)), lw=0.6, alpha=0.7)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    fig.tight_layout()
    return fig


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


def plot_window_histograms(xi: Any, window: Any, centres: Any, bins: int = 80, title: str = "") -> Figure:
    """Histogram of the collective variable per umbrella window (overlap at a glance).

    Args:
        xi: ``(M,)`` CV values; window: ``(M,)`` window index of each; centres: ``(K,)``.
    """
    x = _np(xi).reshape(-1).astype(float)
    win = _np(window).reshape(-1).astype(int)
    c = _np(centres).reshape(-1).astype(float)
    edges = np.linspace(x.min(), x.max() + 1e-12, bins + 1)
    cmap = matplotlib.colormaps["turbo"]
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.subplots()
    k = len(c)
    for i in range(k):
        h = np.histogram(x[win == i], bins=edges)[0]
        ax.stairs(h, edges, color=cmap(i / max(k - 1, 1)), fill=True, alpha=0.35)
        ax.axvline(c[i], color=cmap(i / max(k - 1, 1)), lw=0.5, ls=":")
    ax.set_xlabel("collective variable xi")
    ax.set_ylabel("samples")
    ax.set_title(title or "samples per window")
    fig.tight_layout()
    return fig
