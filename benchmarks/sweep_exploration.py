"""The exploration comparison as a sweep: ``sweep-exploration`` on Ray Tune, its table as one JSON.

Runs ``freeenergy sweep sweep-exploration`` (3 methods x 10 seeds on the
multi-room maze; ``--debug`` for the tiny size) into ``--sweep-dir`` (resumable:
run the same command again after an interruption) and prints one JSON object:
per method, coverage and unique cells (mean, std, 95% interval over seeds),
with the sweep's wall time and the machine.

    python benchmarks/sweep_exploration.py --workers 2 --out benchmarks/results/sweep_exploration.json
    python benchmarks/sweep_exploration.py --debug
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402
from experiments.scale.sweep import run_sweep  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="tiny trials (the test size)")
    p.add_argument("--workers", type=int, default=None, help="trials at once (default: all cores)")
    p.add_argument("--sweep-dir", default=None, help="sweep folder (default runs/sweeps/sweep-exploration[-debug])")
    p.add_argument("--wandb", default="disabled", help="logging.wandb of the trials (offline, online, disabled)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args()
    start = time.perf_counter()
    folder, counts = run_sweep("sweep-exploration", [f"logging.wandb={args.wandb}"], out=args.sweep_dir,
                               debug=args.debug, workers=args.workers, metrics=["unique_cells"],
                               echo=lambda *a: print(*a, file=sys.stderr))
    table = json.loads((folder / "results.json").read_text())
    result = {
        "benchmark": "sweep_exploration",
        "figure": "coverage of the multi-room maze per method, mean and 95% interval over 10 seeds",
        "unit": "fraction of reachable cells visited",
        "settings": {"sweep": "sweep-exploration", "preset": table["preset"], "debug": args.debug,
                     "workers": args.workers, "trials": counts,
                     "command": "python " + " ".join(sys.argv)},
        "machine": machine(),
        "results": {"rows": table["rows"], "wall_seconds": round(time.perf_counter() - start, 1),
                    "note": "wall time includes trials skipped because an earlier call finished them"},
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
