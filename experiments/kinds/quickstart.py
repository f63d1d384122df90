"""The quickstart (``freeenergy run quickstart``): what the framework shows, in under a minute.

Two agents live in the dark room: the free-energy (surprise) minimiser turns
the light off and stays in the dark, where nothing surprises it; the
adversarial explorer seeks what its world model cannot yet predict. A third
run lets the adversarial explorer loose in a maze. Each is an ordinary agent
preset (``quickstart.runs``, made smaller by ``quickstart.overrides``) run
into its own sub-folder; this module then draws their exploration maps side
by side with their coverage curves, and writes one combined summary.

Resuming (``freeenergy resume``) keeps finished sub-runs, resumes an
interrupted one from its checkpoint, and runs the rest.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments import kinds
from experiments.config import Config, to_dict
from experiments.config.presets import deep_merge, resolve
from experiments.context import RunContext, load_checkpoint_file
from experiments.io.logger import read_metrics

# Headline figures copied from each sub-run's summary into the combined one.
HEADLINE = ("coverage", "unique_cells", "dark_fraction", "final_free_energy", "env_steps")
LABELS = {"darkroom-fe": "surprise minimiser (fe)", "darkroom-afe": "adversarial explorer (afe)",
          "maze-afe": "maze: adversarial explorer (afe)"}


def sub_config(ctx: RunContext, name: str) -> Config:
    """Preset ``name`` with the quickstart's overrides, seed, device and logging settings."""
    qs = ctx.cfg.quickstart
    extra = deep_merge(qs.overrides.get("*", {}), qs.overrides.get(name, {}))
    # The parent run owns seed, device and W&B: sub-runs log to their own folders only.
    extra = deep_merge(extra, {"run": {"seed": ctx.seed, "seeds": [], "name": name},
                               "env": {"device": ctx.cfg.env.device},
                               "logging": {"wandb": "disabled", "quiet": ctx.cfg.logging.quiet}})
    return resolve(name, debug=qs.sub_debug, extra=extra)


def _sub_run(ctx: RunContext, name: str, resuming: bool) -> dict:
    from experiments.runner import prepare_run_dir, run_single

    sub_dir = ctx.out_dir / name
    if resuming and (sub_dir / "summary.json").exists():
        return json.loads((sub_dir / "summary.json").read_text())
    cfg = sub_config(ctx, name)
    if resuming and (sub_dir / "checkpoint.pt").exists() and (sub_dir / "config.yaml").exists():
        return run_single(cfg, sub_dir, ctx.seed, ctx.quiet, resume=load_checkpoint_file(sub_dir / "checkpoint.pt"),
                          use_wandb=False)
    return run_single(cfg, prepare_run_dir(cfg, sub_dir, ctx.seed, overwrite=True), ctx.seed, ctx.quiet,
                      use_wandb=False)


def forward_part(ctx: RunContext, name: str) -> None:
    """Log a finished part's metric rows, maps and config into this run, namespaced ``<part>/...`` (rows
    on the part's own step axis), so the quickstart's one W&B run holds every curve, every map its
    folder holds and what really ran (the sections the part read)."""
    cfg = sub_config(ctx, name)
    ctx.logger.update_config({"parts": {name: kinds.used_config(cfg.run.kind, to_dict(cfg))}})
    part = ctx.out_dir / name
    for row in read_metrics(part / "metrics.jsonl"):
        ctx.log({f"{name}/{k}": v for k, v in row.items() if k != "step"}, int(row.get("step", 0)), axis=name)
    for png in sorted(p for p in part.rglob("*.png") if "wandb" not in p.relative_to(part).parts):
        ctx.logger.log_image(f"maps/{name}/{png.relative_to(part).with_suffix('').as_posix()}", png)


def _map_png(sub_dir: Path) -> Path | None:
    """The sub-run's exploration map (the agent experiment saves ``exploration_map.png``)."""
    for name in ("exploration_map.png", "maps/exploration.png"):
        if (sub_dir / name).exists():
            return sub_dir / name
    found = sorted(sub_dir.glob("*map*.png"))
    return found[0] if found else None


def _title(name: str, s: dict) -> str:
    from experiments.io.maps import percent

    parts = []
    if s.get("dark_fraction") is not None:
        parts.append(f"in the dark {100 * s['dark_fraction']:.0f}% of the time")
    if s.get("coverage") is not None:
        parts.append(f"coverage {percent(s['coverage'])}")
    return LABELS.get(name, name) + ("\n" + ", ".join(parts) if parts else "")


def run(ctx: RunContext) -> dict:
    """Run every preset of ``quickstart.runs``; draw and summarise them together."""
    from experiments.io import maps

    runs = list(ctx.cfg.quickstart.runs)
    state = ctx.load_checkpoint()
    resuming = state is not None
    forwarded = list(state.get("done", [])) if state else []
    if not resuming:  # so that an interrupt inside the first sub-run can be resumed too
        ctx.save_checkpoint({"step": -1, "done": []}, by_rows=True)
    summaries: dict[str, dict] = {}
    for i, name in enumerate(runs):
        summaries[name] = _sub_run(ctx, name, resuming)
        if name not in forwarded:
            forward_part(ctx, name)
            forwarded.append(name)
        ctx.save_checkpoint({"step": i, "done": forwarded}, by_rows=True)

    pngs = [(name, _map_png(ctx.out_dir / name)) for name in runs]
    shown = [(name, p) for name, p in pngs if p is not None]
    figure_paths = {}
    if shown:
        fig = maps.plot_side_by_side([p for _, p in shown], [_title(n, summaries[n]) for n, _ in shown],
                                     suptitle="freeenergy quickstart: where each agent went")
        figure_paths["side_by_side"] = ctx.save_figure(fig, "quickstart")
    curves, steps = {}, []
    # The dark room is covered in a few steps; its story is the dark fraction (in the titles),
    # so the coverage figure shows the other runs when there are any.
    curve_runs = [n for n in runs if summaries[n].get("dark_fraction") is None] or runs
    for name in curve_runs:
        rows = [r for r in read_metrics(ctx.out_dir / name / "metrics.jsonl") if "explore/coverage" in r]
        if rows:
            curves[LABELS.get(name, name)] = [r["explore/coverage"] for r in rows]
            if len(rows) > len(steps):
                steps = [r["step"] for r in rows]
    if curves:
        fig = maps.plot_coverage_curve(steps, curves, title="coverage of reachable cells")
        figure_paths["coverage"] = ctx.save_figure(fig, "coverage")

    combined: dict[str, Any] = {"runs": {}}
    for name, s in summaries.items():
        combined["runs"][name] = {k: s[k] for k in HEADLINE if k in s}
        for k in ("coverage", "dark_fraction"):
            if s.get(k) is not None:
                combined[f"{name.replace('-', '_')}_{k}"] = s[k]
    combined["subruns_wall_seconds"] = round(sum(float(s.get("wall_seconds", 0.0)) for s in summaries.values()), 3)
    combined["figures"] = {k: str(Path(p).relative_to(ctx.out_dir)) for k, p in figure_paths.items()}
    _print_story(summaries, ctx.out_dir, figure_paths)
    return combined


def _print_story(summaries: dict[str, dict], out_dir: Path, figures: dict[str, Path]) -> None:
    fe, afe = summaries.get("darkroom-fe", {}), summaries.get("darkroom-afe", {})
    if fe.get("dark_fraction") is not None and afe.get("dark_fraction") is not None:
        print(f"dark room: the surprise minimiser spent {100 * fe['dark_fraction']:.0f}% of its time in the dark, "
              f"the adversarial explorer {100 * afe['dark_fraction']:.0f}%")
    maze = summaries.get("maze-afe", {})
    if maze.get("coverage") is not None:
        print(f"maze: the adversarial explorer reached {100 * maze['coverage']:.0f}% of the reachable cells")
    for key, path in figures.items():
        print(f"{key.replace('_', ' ')} figure: {path}")
