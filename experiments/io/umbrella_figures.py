"""The umbrella-sampling figures: free-energy profiles and the windows' samples.

Like :mod:`experiments.io.maps`, every function takes plain arrays and returns a matplotlib
``Figure`` built without pyplot; saving it is the caller's job.
"""
from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from experiments.io.maps import Bounds, _np


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
