"""The generative presets over several seeds: every model's figures, per seed and summarised; prints JSON.

Runs ``generative-parabola``, ``generative-hexamodal`` and
``generative-custom`` (their full preset settings) for each seed, with W&B
off, and reports per preset and model the per-seed metrics plus their mean,
min and max, the run's wall time and its CPU time (user + system of this
process). The README's generative table is made from this file's output.

    python benchmarks/generative_table.py --seeds 0 1 2 --out benchmarks/results/generative_table.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.preset_run import run_preset  # noqa: E402
from benchmarks.report import emit, machine, write  # noqa: E402

PRESETS = ("generative-parabola", "generative-hexamodal", "generative-custom")
KEYS = ("energy_distance", "mmd", "support_fraction", "constraint_mae", "modes_covered",
        "off_mode_fraction", "min_mode_fraction", "train_seconds")


def summarise(per_seed: dict[int, dict]) -> dict:
    """Per model: each key's mean, min and max over the seeds."""
    out: dict[str, dict] = {}
    for summary in per_seed.values():
        for model, r in summary["models"].items():
            if "mode_fractions" in r:
                r["min_mode_fraction"] = min(r["mode_fractions"])
            for k in KEYS:
                if r.get(k) is not None:
                    out.setdefault(model, {}).setdefault(k, []).append(float(r[k]))
    return {m: {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)),
                    "values": v} for k, v in ks.items()} for m, ks in out.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--set", nargs="*", default=[], help="extra config overrides for every run")
    p.add_argument("--debug", action="store_true", help="the presets' debug sizes (a smoke test)")
    p.add_argument("--out", default="", help="also write the JSON here (rewritten after every run)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, dict] = {}
    result = {"benchmark": "generative_table", "figure": "generative presets, every model, several seeds",
              "unit": "energy distance (lower is better), shares, seconds",
              "settings": {"seeds": args.seeds, "debug": args.debug, "presets": args.presets, "overrides": args.set},
              "machine": machine(),
              "results": results}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            runs: dict[int, dict] = {}
            timing: dict[str, dict] = {}
            for seed in args.seeds:
                summary, wall, cpu = run_preset(name, seed, args.set, Path(tmp) / f"{name}-{seed}", args.debug)
                runs[seed] = summary
                timing[str(seed)] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
                results[name] = {"timing": timing, "summary": summarise(runs),
                                 "per_seed": {str(s): r["models"] for s, r in runs.items()}}
                write(result, args.out)
    emit(result)
    return result


if __name__ == "__main__":
    main()
