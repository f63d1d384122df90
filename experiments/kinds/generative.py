"""The generative experiment: train every world model on one data set, compare samples.

``run.kind: generative``. For each model in ``generative.models``: train for
``generative.steps`` Adam steps on the same data, draw ``generative.samples``
samples, map them back to data space, and score them against fresh true
samples (synthetic sets) or a held-out split (custom data):

- ``energy_distance`` and ``mmd`` (Gaussian kernel, median heuristic);
- parabola: ``constraint_mae`` (median ``|x3 - (x1 - x2)^2|``);
- hexamodal: ``modes_covered`` (of 6) and ``off_mode_fraction``;
- ``support_fraction``: the share of samples within a small distance of the
  nearest training point (the 95% quantile of the training set's own
  nearest-neighbour distances, columns standardised);
- ``train_seconds`` (wall time of the training loop).

Writes ``samples_<model>.npy`` (float32, data space), ``scatter_<model>.png``,
``scatter_all.png`` and ``table.md``; returns ``{"models": {...}, "data": {...}}``.
"""
from __future__ import annotations

import math
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.config import ConfigError, WorldModelConfig, build, to_dict
from experiments.config.presets import PRESET_DIR
from freeenergy import metrics, model_table
from freeenergy.data import Standardiser, load_array, make_synthetic, split
from freeenergy.models import build_from_settings, build_world_model
from freeenergy.world_model import WorldModel

#: Fixed per-model seed offsets (in the order the models arrived), so a model's result does not depend
#: on the list order; a model without one gets a fixed offset from its name.
SEED_OFFSETS = {"rae": 0, "ae": 1, "mc_ae": 2, "vae": 3, "dae": 4, "gan": 5, "rae_gmm": 6}


def seed_offset(name: str) -> int:
    """The seed offset of model ``name`` (``SEED_OFFSETS``, else one derived from the name)."""
    return SEED_OFFSETS.get(name, 7 + zlib.crc32(name.encode()) % 9973)


def load_data(ctx: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(train (N, D), reference (M, D))`` in data space.

    Synthetic sets: ``data.n`` training points and ``generative.samples``
    fresh reference points, from different seeds. Custom data: a seeded split
    with ``data.test_fraction`` held out as the reference.
    """
    d, seed = ctx.cfg.data, ctx.seed
    if d.name == "custom":
        try:
            arr = load_array(resolve_data_path(d.path))
        except FileNotFoundError as err:
            raise ConfigError(f"data.path={d.path!r}: {err}; expected an existing .npy or .csv file "
                                "(N, D)") from err
        except ValueError as err:
            raise ConfigError(f"data.path={d.path!r}: {err}") from err
        try:
            return split(arr, d.test_fraction, seed)
        except ValueError as err:
            raise ConfigError(f"data.path={d.path!r} with data.test_fraction={d.test_fraction}: {err}") from err
    if d.name not in ("parabola", "hexamodal"):
        raise ConfigError(f"data.name={d.name!r} is not supported by the generative experiment; "
                          "valid: parabola, hexamodal, custom")
    train = make_synthetic(d.name, d.n, seed)
    reference = make_synthetic(d.name, ctx.cfg.generative.samples, seed + 1_000_003)
    return train, reference


def resolve_data_path(path: str) -> Path:
    """``data.path`` as given, else beside the bundled presets (where the example lives)."""
    p = Path(path).expanduser()
    if p.exists() or p.is_absolute():
        return p
    bundled = PRESET_DIR / p
    return bundled if bundled.exists() else p


def model_options(cfg: Any, name: str) -> dict:
    """``world_model`` settings with ``generative.overrides[name]`` applied (validated)."""
    base = to_dict(cfg.world_model)
    base.update(cfg.generative.overrides.get(name, {}) or {})
    base["name"] = name
    return to_dict(build(WorldModelConfig, base, f"generative.overrides.{name}."))


def build_model(cfg: Any, name: str, dim: int, device: Any) -> WorldModel:
    """Model ``name`` of a generative run for ``(B, dim)`` data (the world_model section + its overrides)."""
    return build_from_settings(name, dim, model_options(cfg, name), device=device)


def train_model(ctx: Any, name: str, model: WorldModel, x: torch.Tensor, scaler: Standardiser) -> tuple[float, dict]:
    """Train ``model`` on model-space data ``x`` ``(N, D)``; returns (seconds, last metrics)."""
    g, d = ctx.cfg.generative, ctx.cfg.data
    n = x.shape[0]
    batch = n if g.batch_size == 0 else min(g.batch_size, n)
    fresh = g.fresh_batches and d.name in ("parabola", "hexamodal")
    rng = np.random.default_rng(ctx.seed + 7919 * (1 + seed_offset(name)))
    gen = torch.Generator().manual_seed(ctx.seed + seed_offset(name))
    log_every = max(1, g.steps // 100)
    last: dict = {}
    bar = ctx.progress(g.steps, f"train {name}")
    start = time.perf_counter()
    for step in range(1, g.steps + 1):
        if fresh:
            xb = torch.from_numpy(scaler.transform(make_synthetic(d.name, batch, int(rng.integers(2**31)))))
            xb = xb.to(x.device)
        elif batch == n:
            xb = x
        else:
            xb = x[torch.randint(0, n, (batch,), generator=gen, device=gen.device).to(x.device)]
        last = model.fit_step(xb)
        if step % log_every == 0 or step == g.steps:
            ctx.log({f"generative/{name}/{k}": v for k, v in last.items()}, step, axis=f"generative/{name}")
            bar.set_postfix(loss=f"{last['loss']:.4g}", refresh=False)
        bar.update(1)
    bar.close()
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return time.perf_counter() - start, last


def draw_samples(ctx: Any, name: str, model: WorldModel, x: torch.Tensor) -> np.ndarray:
    """``generative.samples`` samples ``(S, D)`` in model space (seeded)."""
    g = ctx.cfg.generative
    gen = torch.Generator(device=x.device).manual_seed(ctx.seed + 100 + seed_offset(name))
    x0 = None
    if g.sample_init == "uniform" and model_table.spec(name).chain:
        lo, hi = x.min(0).values, x.max(0).values
        u = torch.rand((g.samples, x.shape[1]), device=x.device, generator=gen)
        x0 = lo + (hi - lo) * u
    with torch.no_grad():
        s = model.sample(g.samples, generator=gen, x0=x0)
    return s.cpu().numpy()


def score(data_name: str, samples: np.ndarray, reference: np.ndarray, cap: int, seed: int,
          train: np.ndarray | None = None) -> dict:
    """The metrics of one model's data-space samples ``(S, D)`` (``support_fraction`` given ``train``)."""
    out = {
        "energy_distance": metrics.energy_distance(samples, reference, cap, seed),
        "mmd": metrics.mmd(samples, reference, max_points=cap, seed=seed),
    }
    if train is not None:
        out["support_fraction"] = metrics.support_fraction(samples, train, max_points=cap, seed=seed)
    finite = np.isfinite(samples).all(1)
    if data_name == "parabola":
        out["constraint_mae"] = metrics.constraint_mae(samples[finite]) if finite.any() else math.inf
    if data_name == "hexamodal":
        out["modes_covered"] = metrics.modes_covered(samples)
        out["off_mode_fraction"] = metrics.off_mode_fraction(samples)
        out["mode_fractions"] = [round(f, 4) for f in metrics.mode_fractions(samples)]
    out["nonfinite_fraction"] = float(1.0 - finite.mean())
    return out


def scatter(data_name: str, samples: np.ndarray, reference: np.ndarray, ax: Any, title: str) -> None:
    """The source's view: ``x1 - x2`` vs ``x3`` for the parabola, the first two columns otherwise."""
    def view(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, str]:
        if data_name == "parabola":
            return a[:, 0] - a[:, 1], a[:, 2], "x1 - x2", "x3"
        if a.shape[1] == 1:
            return a[:, 0], np.zeros(len(a)), "x1", ""
        return a[:, 0], a[:, 1], "x1", "x2"
    rx, ry, xl, yl = view(reference[:5000])
    sx, sy, _, _ = view(samples[np.isfinite(samples).all(1)][:5000])
    ax.scatter(rx, ry, s=1, c="0.75", label="data")
    ax.scatter(sx, sy, s=1, c="C3", alpha=0.5, label="samples")
    if len(rx):
        pad_x, pad_y = 0.25 * np.ptp(rx) + 1e-6, 0.25 * np.ptp(ry) + 1e-6
        ax.set_xlim(rx.min() - pad_x, rx.max() + pad_x)
        ax.set_ylim(ry.min() - pad_y, ry.max() + pad_y)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(title, fontsize=9)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "inf" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def table(data_name: str, results: dict) -> str:
    """Markdown table of the summary's per-model figures."""
    cols = ["energy_distance", "mmd", "support_fraction"]
    cols += {"parabola": ["constraint_mae"], "hexamodal": ["modes_covered", "off_mode_fraction"]}.get(data_name, [])
    cols += ["train_seconds"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _json_safe(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _one_model(ctx: Any, name: str, dim: int, x: torch.Tensor, scaler: Standardiser,
               reference: np.ndarray, train: np.ndarray) -> tuple[dict, np.ndarray]:
    """Train, sample, score and draw one model; returns (its figures, its data-space samples)."""
    import matplotlib.pyplot as plt

    cfg, g = ctx.cfg, ctx.cfg.generative
    torch.manual_seed(ctx.seed + seed_offset(name))
    model = build_model(cfg, name, dim, ctx.device)
    seconds, last = train_model(ctx, name, model, x, scaler)
    samples = scaler.inverse(draw_samples(ctx, name, model, x)).astype(np.float32)
    ctx.save_array(f"samples_{name}", samples)
    r = score(cfg.data.name, samples, reference, g.max_metric_points, ctx.seed, train)
    r["train_seconds"] = round(seconds, 3)
    r["final_loss"] = last.get("loss")
    check_finite_model(name, r, last)
    fig, ax = plt.subplots(figsize=(4, 3.5))
    scatter(cfg.data.name, samples, reference, ax, f"{name}: energy distance {_fmt(r['energy_distance'])}")
    ctx.save_figure(fig, f"scatter_{name}")
    return _json_safe(r), samples


def check_finite_model(name: str, r: dict, last: dict) -> None:
    """A model whose loss or samples are not finite failed: stop with the reason (exit 1)."""
    loss = last.get("loss")
    if loss is not None and not math.isfinite(loss):
        raise FloatingPointError(f"generative model {name!r}: training loss became {loss}; lower its lr "
                                 f"(generative.overrides.{name}.lr) or check the data")
    if r["nonfinite_fraction"] > 0:
        raise FloatingPointError(f"generative model {name!r}: {r['nonfinite_fraction']:.1%} of its samples are "
                                 f"not finite; lower its lr (generative.overrides.{name}.lr) or its steps")


def run(ctx: Any) -> dict:
    """Train, sample and score every model; write samples, figures and table.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, g = ctx.cfg, ctx.cfg.generative
    train, reference = load_data(ctx)
    scaler = Standardiser.fit(train) if cfg.data.standardise else Standardiser.identity(train.shape[1])
    x = torch.from_numpy(scaler.transform(train)).to(ctx.device)
    dim = x.shape[1]
    # One throwaway step first, so the first model's timing holds no library start-up cost.
    build_world_model("ae", dim, device=ctx.device).fit_step(x[:8])
    # Checkpoint after every model (and before the first), so Ctrl-C or SIGTERM keeps the finished
    # models and `freeenergy resume` trains only the rest; each model seeds itself, so a resumed
    # run gives the same figures.
    done = dict((ctx.load_checkpoint() or {}).get("models", {}))
    results: dict[str, dict] = {}
    collected: dict[str, np.ndarray] = {}
    ctx.save_checkpoint({"step": 0, "models": done}, by_rows=True)
    for name in g.models:
        if name in done and (ctx.out_dir / f"samples_{name}.npy").is_file():
            results[name] = done[name]
            collected[name] = np.load(ctx.out_dir / f"samples_{name}.npy", allow_pickle=False)
            continue
        results[name], collected[name] = _one_model(ctx, name, dim, x, scaler, reference, train)
        ctx.save_checkpoint({"step": 0, "models": results}, by_rows=True)
    ncol = min(3, len(collected))
    nrow = math.ceil(len(collected) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.5 * nrow), squeeze=False,
                             constrained_layout=True)
    for ax, (name, s) in zip(axes.flat, collected.items()):
        scatter(cfg.data.name, s, reference, ax, name)
    for ax in list(axes.flat)[len(collected):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", markerscale=8, fontsize=8)
    fig.suptitle(f"{cfg.data.name}: each model's samples (red) against the data (grey)", fontsize=10)
    ctx.save_figure(fig, "scatter_all")
    md = table(cfg.data.name, results)
    ctx.save_text("table.md", md)
    return {
        "models": results,
        "data": {"name": cfg.data.name, "train_points": len(train), "reference_points": len(reference),
                 "dim": int(dim), "standardised": bool(cfg.data.standardise)},
        "metric_points_cap": g.max_metric_points,
    }
