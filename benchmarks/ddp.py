"""Data-parallel scaling: env-steps/s of one agent run with 1 and K torchrun processes, side by side.

Each configuration is launched with ``torchrun --nproc_per_node P -m experiments
run`` (P = 1 is the plain single-process run); the figure is the run's own
``env_steps_per_second`` (the step loop only, start-up excluded). The
process counts alternate for ``--repeats`` rounds and the best of each counts,
so load from other programs on the machine hits both alike. ``scaling`` is
rate(K) / rate(1) (goal on 2 CPU cores: >= 1.6).

    python benchmarks/ddp.py                              # cpu: 1 vs 2 processes
    python benchmarks/ddp.py --device cuda --procs 1 2 4  # one GPU per process
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402


def run_once(procs: int, overrides: list[str], folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(_ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--standalone",
           "-m", "experiments", "run", "maze-afe", *overrides, "--out", str(folder), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=_ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    summary = json.loads((folder / "summary.json").read_text())
    return {"env_steps_per_second": summary["env_steps_per_second"], "coverage": summary["coverage"],
            "wall_seconds": round(time.perf_counter() - start, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    p.add_argument("--procs", type=int, nargs="+", default=None,
                   help="process counts, the first is the base (default: 1 2 on cpu, 1 and every GPU on cuda)")
    p.add_argument("--envs", type=int, default=16, help="env copies in all (split over the processes)")
    p.add_argument("--steps", type=int, default=60, help="env steps per copy")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "ddp", "status": "skipped", "reason": "no cuda"}))
        return
    if args.procs is None:
        args.procs = [1, 2] if args.device == "cpu" else sorted({1, torch.cuda.device_count()})
    overrides = [f"env.device={args.device}", f"env.num_envs={args.envs}", f"run.steps={args.steps}",
                 "run.seeds=[]", "run.threads=1", "run.checkpoint_every=0", "logging.wandb=disabled",
                 "logging.map_interval=100000", f"agent.planner.candidates={args.candidates}",
                 f"agent.planner.horizon={args.horizon}", "agent.warmup_steps=5"]
    runs: dict[int, list[dict]] = {n: [] for n in args.procs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for n in args.procs:
                runs[n].append(run_once(n, overrides, Path(tmp) / f"p{n}_r{r}"))
    best = {n: max(x["env_steps_per_second"] for x in rs) for n, rs in runs.items()}
    base = best[args.procs[0]]
    result = {
        "benchmark": "ddp",
        "figure": f"env-steps/s of maze-afe with {args.envs} copies, 1 vs K data-parallel processes",
        "unit": "env-steps/s (best of repeats); scaling = rate(K) / rate(first)",
        "settings": {"device": args.device, "procs": args.procs, "envs": args.envs, "steps": args.steps,
                     "candidates": args.candidates, "horizon": args.horizon, "repeats": args.repeats,
                     "overrides": overrides, "command": "python " + " ".join(sys.argv)},
        "machine": machine(gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]),
        "results": {"env_steps_per_second": {str(n): v for n, v in best.items()},
                    "scaling": {str(n): v / base for n, v in best.items()},
                    "efficiency": {str(n): v / base / (n / args.procs[0]) for n, v in best.items()},
                    "runs": {str(n): rs for n, rs in runs.items()}},
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
