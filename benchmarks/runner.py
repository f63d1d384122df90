"""Cost of logging and map drawing, and the wall time of the quickstart.

Prints one JSON document:

- ``logging_overhead``: the maze preset run twice with the same seed and size,
  once with logging as configured (scalars every ``logging.interval`` steps,
  exploration maps every ``logging.map_interval`` steps, W&B offline) and once
  with logging off (W&B disabled, intervals beyond the run's length); the
  ratio of their env-steps/s (``ratio_on_to_off``; goal: >= 0.90, i.e. at most
  10% cost). Each is repeated ``--repeats`` times and the best run counts, to
  damp noise from other processes.
  ``in_loop_logging_share`` is the same cost measured from the inside
  (seconds spent in ``ctx.log`` and in ``ctx.save_figure`` for maps drawn
  during the loop, over the loop time), which other processes on the machine
  disturb much less than a rate ratio.
- ``quickstart``: wall time of ``freeenergy run quickstart`` (``--debug`` with
  ``--quick-debug``).
- ``machine``: CPU, threads, torch version, device.

    python benchmarks/runner.py                       # maze-afe, default sizes
    python benchmarks/runner.py --preset maze-random --steps 2000 --repeats 3
    python benchmarks/runner.py --skip-quickstart
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402
from experiments.config.presets import resolve  # noqa: E402
from experiments.context import RunContext  # noqa: E402
from experiments.runner import run_experiment  # noqa: E402


class _Timed:
    """Time spent inside RunContext.log and RunContext.save_figure (drawing, PNG, W&B)."""

    def __init__(self) -> None:
        self.seconds = {"log": 0.0, "save_figure": 0.0}
        self.calls = {"log": 0, "save_figure": 0}
        self.records: list[tuple[str, int | None, float]] = []  # (method, step, seconds)

    def __enter__(self) -> _Timed:
        self._orig = {name: getattr(RunContext, name) for name in self.seconds}
        for name, fn in self._orig.items():
            setattr(RunContext, name, self._wrap(name, fn))
        return self

    def _wrap(self, name: str, fn):
        def timed(ctx, *args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(ctx, *args, **kwargs)
            finally:
                took = time.perf_counter() - start
                self.seconds[name] += took
                self.calls[name] += 1
                step = kwargs.get("step", args[-1] if name == "log" or len(args) >= 3 else None)
                self.records.append((name, step if isinstance(step, int) else None, took))
        return timed

    def __exit__(self, *exc) -> None:
        for name, fn in self._orig.items():
            setattr(RunContext, name, fn)


def _run(preset: str, overrides: list[str], debug: bool, root: Path, tag: str) -> tuple[dict, float]:
    cfg = resolve(preset, overrides, debug=debug)
    start = time.perf_counter()
    summary, _ = run_experiment(cfg, out=root / tag, quiet=True)
    return summary, time.perf_counter() - start


def logging_overhead(preset: str, steps: int | None, debug: bool, repeats: int, root: Path) -> dict:
    base = ["run.seeds=[]"] + ([f"run.steps={steps}"] if steps else [])  # one seed: a rate, not a spread
    cfg = resolve(preset, base, debug=debug)
    off = base + ["logging.wandb=disabled", f"logging.interval={cfg.run.steps + 1}",
                  f"logging.map_interval={cfg.run.steps + 1}"]
    on = base + ["logging.wandb=offline"]
    rates: dict[str, list[float]] = {"on": [], "off": []}
    walls: dict[str, list[float]] = {"on": [], "off": []}
    timed = _Timed()
    loop_seconds = 0.0
    for i in range(repeats):
        for mode, overrides in (("off", off), ("on", on)):  # alternate so drift hits both alike
            if mode == "on":
                with timed:
                    summary, wall = _run(preset, overrides, debug, root, f"{mode}-{i}")
                loop_seconds += float(summary["env_steps"]) / float(summary["env_steps_per_second"])
            else:
                summary, wall = _run(preset, overrides, debug, root, f"{mode}-{i}")
            rates[mode].append(float(summary["env_steps_per_second"]))
            walls[mode].append(wall)
    best_on, best_off = max(rates["on"]), max(rates["off"])
    # In the loop: every scalar row, and the maps drawn before the last step (the final map
    # and the coverage curve are drawn after the timed loop).
    in_loop = sum(t for name, step, t in timed.records
                  if name == "log" or (step is not None and step < cfg.run.steps))
    return {
        "preset": preset, "debug": debug, "steps": cfg.run.steps, "num_envs": cfg.env.num_envs,
        "interval": cfg.logging.interval, "map_interval": cfg.logging.map_interval,
        "env_steps_per_second_on": best_on, "env_steps_per_second_off": best_off,
        "ratio_on_to_off": best_on / best_off, "cost_percent": 100.0 * (1.0 - best_on / best_off),
        "goal_met": best_on / best_off >= 0.90,
        "all_rates": rates, "wall_seconds": walls,
        "logging_calls_seconds": timed.seconds, "logging_calls": timed.calls,
        "in_loop_logging_seconds": in_loop,
        "in_loop_logging_share": in_loop / max(loop_seconds, 1e-9),
    }


def quickstart_time(debug: bool, root: Path) -> dict:
    summary, wall = _run("quickstart", [], debug, root, "quickstart")
    return {"debug": debug, "wall_seconds": wall, "subruns_wall_seconds": summary.get("subruns_wall_seconds"),
            "summary": {k: v for k, v in summary.items() if k not in ("figures",)}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="maze-afe", help="the maze preset whose logging cost is measured")
    p.add_argument("--steps", type=int, default=None, help="override run.steps (default: the preset's)")
    p.add_argument("--debug", action="store_true", help="the preset's debug size")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip-quickstart", action="store_true")
    p.add_argument("--quick-debug", action="store_true", help="time the quickstart at its debug size")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("WANDB_SILENT", "true")
    out: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="fe-bench-") as tmp:
        root = Path(tmp)
        for key in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
            os.environ.setdefault(key, str(root / key.lower()))
            Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
        out["logging_overhead"] = logging_overhead(args.preset, args.steps, args.debug, args.repeats, root)
        if not args.skip_quickstart:
            # The quickstart prints where its files are; keep stdout for the JSON alone.
            with contextlib.redirect_stdout(sys.stderr):
                out["quickstart"] = quickstart_time(args.quick_debug, root)
    out = {"benchmark": "runner",
           "figure": "logging and map-drawing overhead (env-steps/s with logging on / off); quickstart wall time",
           "unit": "ratio; seconds", **out}
    emit(out, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
