"""Umbrella sampling on the Müller-Brown potential, against plain dynamics.

``run(ctx)`` for ``run.kind: umbrella``. The collective variable is a
direction ``d`` in the plane (default: from minimum A to minimum B), so
``xi(s) = s . d``. ``env.num_envs`` copies of the batched Langevin twin are
split into ``umbrella.windows`` groups; group ``k`` starts on the A-B line at
``xi_k`` and feels the bias force ``-kappa (xi - xi_k) d`` through the env's
force action, so it samples ``exp(-(U + U_k) / kT)`` exactly (up to the
integrator's time-step error). MBAR (and WHAM, as a cross-check) pool the
windows into the unbiased PMF of ``xi``.

The same number of copies and steps is then spent on unbiased dynamics
started in minimum A, whose histogram gives the plain estimate. Both are
compared with the exact PMF by quadrature of the Boltzmann density over the
env's bounds, on bins within ``umbrella.eval_kT`` of its minimum; a PMF is
defined up to a constant, so each RMSE uses the best shift. Bins no sample
reached are left out of the RMSE and counted by ``bins_covered``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from experiments.config import ConfigError
from experiments.context import RunContext
from freeenergy import umbrella as um

MAP_STRIDE = 10  # keep every 10th position for the per-window maps


def _mb_module() -> Any:
    from envs import muller_brown

    return muller_brown


def build_env(cfg: Any, device: torch.device, start: str = "A") -> Any:
    """The batched Müller-Brown twin with no truncation (windows run one long chain each)."""
    from experiments.build import make_env

    # Windows bias the twin's state through its force action: a Gymnasium-adapted copy cannot.
    adapted = [f"{k}={v!r}" for k, v in (("env.map_xy", cfg.env.map_xy), ("env.vector", cfg.env.vector))
               if v not in (None, "sync")]
    if adapted:
        raise ConfigError(f"{', '.join(adapted)} is invalid for umbrella runs, which drive the batched "
                          f"Müller-Brown twin directly: expected env.map_xy=null and env.vector=sync")
    env = make_env(cfg, device, max_steps=None, start=start)
    if not isinstance(env, _mb_module().MullerBrownTwin):
        env.close()
        raise ConfigError(f"env.id={cfg.env.id!r}: umbrella runs need the Müller-Brown env "
                          f"(freeenergy/MullerBrown-v0), got {type(env).__name__}")
    return env


def cv_setup(cfg: Any, kT: float) -> dict[str, Any]:
    """Direction, window centres, stiffness and PMF bin edges from ``cfg.umbrella``."""
    mb = _mb_module()
    u = cfg.umbrella
    a, b = np.array(mb.MINIMA["A"]), np.array(mb.MINIMA["B"])
    d = np.asarray(u.direction, dtype=np.float64) if u.direction else b - a
    if d.shape != (2,):
        raise ConfigError(f"umbrella.direction={list(u.direction)!r} is invalid: expected 2 entries [x, y] "
                          "(or [] for the A->B direction)")
    norm = float(np.linalg.norm(d))
    if not np.isfinite(norm) or norm == 0.0:
        raise ConfigError(f"umbrella.direction={list(u.direction)!r} is invalid: expected a finite non-zero "
                          "vector [x, y] (or [] for the A->B direction)")
    d = d / norm
    if u.cv_range:
        lo, hi = u.cv_range
    else:
        xa, xb = sorted((float(a @ d), float(b @ d)))
        lo, hi = xa - u.cv_margin, xb + u.cv_margin
    if u.windows < 2:
        raise ConfigError(f"umbrella.windows={u.windows} is invalid: an umbrella run needs >= 2 windows")
    centres = um.window_centres(lo, hi, u.windows)
    kappa = u.kappa or um.auto_kappa(centres, kT, u.kappa_factor)
    spacing = (hi - lo) / (u.windows - 1)
    # The profile is binned a little beyond the outermost windows, where their tails still sample.
    edges = np.linspace(lo - spacing, hi + spacing, u.bins + 1)
    return {"direction": d, "centres": centres, "kappa": float(kappa), "edges": edges, "a": a, "b": b}


def sample(env: Any, direction: np.ndarray, steps: int, centre_n: torch.Tensor | None, kappa: float,
           start_xy: torch.Tensor | None, seed: int, progress: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``steps`` steps of every copy, biased when ``centre_n`` ``(N,)`` is given.

    Returns the CV trajectory ``(T, N)`` and every ``MAP_STRIDE``-th position ``(T', N, 2)``.
    """
    dev = env.device
    d = torch.as_tensor(direction, dtype=torch.float32, device=dev)
    obs = env.reset(seed=seed)
    if start_xy is not None:
        obs = env.set_state(torch.arange(env.num_envs, device=dev), start_xy)
    cv = um.LinearCV(direction, device=dev)
    xi = torch.empty(steps, env.num_envs, dtype=torch.float32, device=dev)
    xy = []
    zero = torch.zeros(env.num_envs, 2, device=dev)
    for t in range(steps):
        action = zero if centre_n is None else um.bias_force(obs, cv, centre_n, kappa)
        obs, *_ = env.step(action)
        xi[t] = obs @ d
        if t % MAP_STRIDE == 0:
            xy.append(obs.clone())
        if progress is not None and t % 100 == 0:
            progress.update(min(100, steps - t))
    return xi.cpu().numpy(), torch.stack(xy).cpu().numpy()


def window_starts(setup: dict, window_n: np.ndarray, device: torch.device) -> torch.Tensor:
    """Start of each copy on the A-B line at its window's centre ``(N, 2)``."""
    a, d = setup["a"], setup["direction"]
    xi0 = setup["centres"][window_n]
    pts = a[None, :] + (xi0 - a @ d)[:, None] * d[None, :]
    return torch.as_tensor(pts, dtype=torch.float32, device=device)


def estimate(xi_tn: np.ndarray, window_n: np.ndarray | None, setup: dict, kT: float, cfg: Any,
             upto: int | None = None) -> dict[str, Any]:
    """PMF estimates from the first ``upto`` steps: MBAR + WHAM (windows) or a histogram (plain)."""
    u = cfg.umbrella
    xi_tn = xi_tn[:upto] if upto else xi_tn
    discard = min(u.equilibration, xi_tn.shape[0] - 1)
    if u.subsample:
        t_idx, n_idx = um.subsample_chains(xi_tn, discard)
    else:
        t, n = np.meshgrid(np.arange(discard, xi_tn.shape[0]), np.arange(xi_tn.shape[1]), indexing="ij")
        t_idx, n_idx = t.ravel(), n.ravel()
    xi_n = xi_tn[t_idx, n_idx]
    out: dict[str, Any] = {"samples": int(xi_n.size), "g_mean": float(xi_tn[discard:].size / max(xi_n.size, 1))}
    if window_n is None:
        out["pmf"] = um.histogram_pmf(xi_n, setup["edges"])
        return out
    w = window_n[n_idx]
    out["pmf"] = um.mbar_pmf(xi_n, w, setup["centres"], setup["kappa"], kT, setup["edges"], u.min_overlap)
    out["wham"] = um.wham_pmf(xi_n, w, setup["centres"], setup["kappa"], kT, setup["edges"])
    return out


def _finite(a: np.ndarray) -> list:
    """JSON-friendly list: NaN -> None."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64)]


def check_finite_dynamics(xi: np.ndarray, cfg: Any, kappa: float) -> None:
    """Positions that left the finite numbers mean the dynamics blew up: a failed run (exit 1)."""
    if np.isfinite(xi).all():
        return
    bad = int((~np.isfinite(xi)).any(1).argmax())
    why = (f"umbrella.kappa={kappa:.4g} is too stiff for the time step (lower umbrella.kappa or env.kwargs.dt)"
           if kappa > 0 else "lower env.kwargs.dt")
    raise FloatingPointError(f"the Langevin dynamics blew up (positions not finite from step {bad}): {why}")


def run(ctx: RunContext) -> dict:
    """Umbrella windows, then unbiased dynamics on the same budget; PMFs against the exact one."""
    cfg = ctx.cfg
    env = build_env(cfg, ctx.device, start="A")
    kT = float(env.kT)
    setup = cv_setup(cfg, kT)
    steps = cfg.run.steps
    dt = float(getattr(env, "dt", 0.0))
    if setup["kappa"] * dt >= 2.0:  # explicit Euler on a harmonic well of stiffness kappa diverges past 2/dt
        raise ConfigError(f"umbrella.kappa={setup['kappa']:.4g} with the env's dt={dt:g} gives kappa*dt="
                          f"{setup['kappa'] * dt:.3g} >= 2: the dynamics would blow up; use umbrella.kappa < "
                          f"{2.0 / dt:.4g} (0: automatic)")
    window_n = um.assign_windows(env.num_envs, cfg.umbrella.windows)
    centre_n = torch.as_tensor(setup["centres"][window_n], dtype=torch.float32, device=ctx.device)

    # A checkpoint after each phase: Ctrl-C or SIGTERM in the unbiased phase keeps the windows'
    # samples, and `freeenergy resume` runs only what is missing (each phase reseeds its env).
    state = dict(ctx.load_checkpoint() or {})
    bar = ctx.progress(2 * steps, "umbrella + plain dynamics", initial=steps if "xi_u" in state else 0)
    if "xi_u" in state:
        xi_u, xy_u, t_umbrella = state["xi_u"].numpy(), state["xy_u"].numpy(), float(state["t_umbrella"])
    else:
        ctx.save_checkpoint({"step": 0, "phase": 0})
        t0 = time.perf_counter()
        xi_u, xy_u = sample(env, setup["direction"], steps, centre_n, setup["kappa"],
                            window_starts(setup, window_n, ctx.device), ctx.seed, bar)
        t_umbrella = time.perf_counter() - t0
        check_finite_dynamics(xi_u, cfg, setup["kappa"])
        ctx.save_checkpoint({"step": 0, "phase": 1, "xi_u": torch.from_numpy(xi_u),
                             "xy_u": torch.from_numpy(xy_u), "t_umbrella": t_umbrella})
    xi_p, xy_p = sample(env, setup["direction"], steps, None, 0.0, None, ctx.seed + 1, bar)
    bar.close()
    check_finite_dynamics(xi_p, cfg, 0.0)

    umb = estimate(xi_u, window_n, setup, kT, cfg)
    plain = estimate(xi_p, None, setup, kT, cfg)
    exact = um.pmf_by_quadrature(_mb_module().potential, setup["direction"], env.map_bounds, setup["edges"], kT)
    mask = np.isfinite(exact) & (exact <= cfg.umbrella.eval_kT)
    summary = _summary(cfg, setup, kT, umb, plain, exact, mask, xi_p, float(steps * env.num_envs / t_umbrella))
    ctx.log({f"umbrella/{k}": summary[k] for k in ("pmf_rmse_kT", "unbiased_pmf_rmse_kT", "bins_covered",
                                                   "unbiased_bins_covered", "min_neighbour_overlap")}, step=steps)
    _draw(ctx, env, setup, kT, umb, plain, exact, mask, window_n, xi_u, xy_u, xy_p)
    return summary


def _aligned(f: np.ndarray, exact: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``f`` shifted to best match ``exact`` on the evaluated bins (a PMF is defined up to a constant)."""
    ok = np.isfinite(f) & mask
    return f - (np.mean(f[ok] - exact[ok]) if ok.any() else 0.0)


def _summary(cfg: Any, setup: dict, kT: float, umb: dict, plain: dict, exact: np.ndarray, mask: np.ndarray,
             xi_p: np.ndarray, biased_steps_per_s: float) -> dict[str, Any]:
    """The run's figures: errors against the exact PMF, coverage, overlaps, the profiles themselves."""
    pmf, wham, hist = umb["pmf"], umb["wham"], plain["pmf"]
    nb = um.neighbour_overlaps(pmf.overlap)
    return {
        "pmf_rmse_kT": um.pmf_rmse(pmf.f, exact, mask),
        "unbiased_pmf_rmse_kT": um.pmf_rmse(hist.f, exact, mask),
        "wham_pmf_rmse_kT": um.pmf_rmse(wham.f, exact, mask),
        "mbar_vs_wham_rmse_kT": um.pmf_rmse(pmf.f, wham.f, mask),
        "bins_covered": int((pmf.covered & mask).sum()),
        "unbiased_bins_covered": int((hist.covered & mask).sum()),
        "eval_bins": int(mask.sum()),
        "max_uncertainty_kT": float(np.nanmax(np.where(mask, pmf.df, np.nan))),
        "min_neighbour_overlap": float(nb.min()) if nb.size else float("nan"),
        "unbiased_max_xi": float(xi_p.max()),
        "windows": int(cfg.umbrella.windows),
        "kappa": setup["kappa"],
        "kT": kT,
        "cv_direction": setup["direction"].tolist(),
        "window_centres": setup["centres"].tolist(),
        "steps_per_copy": int(cfg.run.steps),
        "env_steps": int(cfg.run.steps * cfg.env.num_envs),
        "umbrella_samples": umb["samples"],
        "unbiased_samples": plain["samples"],
        "statistical_inefficiency": umb["g_mean"],
        "biased_steps_per_s": biased_steps_per_s,
        "pmf": {
            "centres": pmf.centres.tolist(),
            "estimate": _finite(_aligned(pmf.f, exact, mask)),
            "uncertainty": _finite(pmf.df),
            "unbiased": _finite(_aligned(hist.f, exact, mask)),
            "wham": _finite(_aligned(wham.f, exact, mask)),
            "exact": _finite(exact),
            "eval_mask": mask.tolist(),
        },
    }


def _draw(ctx: RunContext, env: Any, setup: dict, kT: float, umb: dict, plain: dict, exact: np.ndarray,
          mask: np.ndarray, window_n: np.ndarray, xi_u: np.ndarray, xy_u: np.ndarray, xy_p: np.ndarray) -> None:
    """PMF array and figures: the profiles, the windows' histograms and where each sampled."""
    from experiments.io import umbrella_figures as maps

    cfg, steps, n = ctx.cfg, ctx.cfg.run.steps, env.num_envs
    pmf, wham, hist = umb["pmf"], umb["wham"], plain["pmf"]
    est, unb = _aligned(pmf.f, exact, mask), _aligned(hist.f, exact, mask)
    ctx.save_array("pmf", np.stack([pmf.centres, est, pmf.df, unb, exact]))
    ctx.save_figure(maps.plot_pmf(pmf.centres, exact, {"umbrella (MBAR)": est,
                                                       "umbrella (WHAM)": _aligned(wham.f, exact, mask),
                                                       "unbiased": unb},
                                  {"umbrella (MBAR)": pmf.df}, eval_kT=cfg.umbrella.eval_kT, kT=kT),
                    "pmf", step=steps)
    kept = xi_u[min(cfg.umbrella.equilibration, steps - 1):]
    ctx.save_figure(maps.plot_window_histograms(kept.ravel(), np.tile(window_n, kept.shape[0]), setup["centres"]),
                    "window_histograms", step=steps)
    grid = _potential_grid(_mb_module(), env.map_bounds)
    ctx.save_figure(maps.plot_window_maps(xy_u.reshape(-1, 2), np.tile(window_n, xy_u.shape[0]),
                                          env.map_bounds, grid, setup["direction"], setup["centres"],
                                          title="umbrella windows"), "window_maps", step=steps)
    ctx.save_figure(maps.plot_window_maps(xy_p.reshape(-1, 2), np.zeros(xy_p.shape[0] * n, dtype=int),
                                          env.map_bounds, grid, title="unbiased dynamics (same budget)"),
                    "unbiased_map", step=steps)


def _potential_grid(mb: Any, bounds: Any, n: int = 120) -> np.ndarray:
    (x0, x1), (y0, y1) = bounds
    xx, yy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return mb.potential(np.stack([xx, yy], axis=-1))
