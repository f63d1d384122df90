"""One preset run for one seed inside a benchmark: W&B off, quiet, timed (wall and this process's CPU)."""
from __future__ import annotations

import time
from pathlib import Path


def run_preset(name: str, seed: int, overrides: list[str], out: Path, debug: bool = False) -> tuple[dict, float, float]:
    """``freeenergy run NAME run.seed=SEED OVERRIDES --out OUT`` in this process; (summary, wall s, CPU s)."""
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve(name, ["logging.wandb=disabled", "logging.quiet=true", "run.seeds=[]", f"run.seed={seed}",
                         *overrides], debug=debug)
    wall, cpu = time.perf_counter(), time.process_time()
    summary, _ = run_experiment(cfg, out=out, quiet=True)
    return summary, time.perf_counter() - wall, time.process_time() - cpu
