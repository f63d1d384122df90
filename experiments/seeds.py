"""Multi-seed runs: every seed of ``run.seeds`` in its own sub-folder, then mean and spread."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from experiments.config import Config
from experiments.context import load_checkpoint_file
from experiments.io.placement import prepare_run_dir
from experiments.io.status import write_json, write_status

#: Summary keys that say what ran, not what came out: never averaged over seeds.
NOT_FIGURES = ("seed",)
#: ``run_single(cfg, run_dir, seed, quiet, resume=None) -> summary``
RunOne = Callable[..., dict]


def aggregate(summaries: list[dict]) -> dict:
    """Mean and spread (std, min, max) of every numeric top-level figure across seeds."""
    out: dict[str, Any] = {}
    for key in summaries[0]:
        if key in NOT_FIGURES:
            continue
        vals = [s.get(key) for s in summaries]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            arr = np.asarray(vals, dtype=float)
            out[key] = {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()),
                        "max": float(arr.max()), "values": [float(v) for v in arr]}
    return out


def run_seeds(cfg: Config, run_dir: Path, quiet: bool, resuming: bool, run_single: RunOne) -> dict:
    """Every seed of ``run.seeds`` into ``run_dir/seed_<s>``, then the aggregate summary.

    The seeds' W&B runs share a group (``logging.group``, else the run folder's name).
    ``run_single(cfg, folder, seed, quiet, resume=None)`` runs one seed (the runner's).
    """
    if not cfg.logging.group:
        cfg = dataclasses.replace(cfg, logging=dataclasses.replace(cfg.logging, group=run_dir.name))
    per_seed = {}
    for s in cfg.run.seeds:
        sub = run_dir / f"seed_{s}"
        if resuming and (sub / "summary.json").exists():
            per_seed[s] = json.loads((sub / "summary.json").read_text())
            continue
        if resuming and (sub / "checkpoint.pt").exists():
            per_seed[s] = run_single(cfg, sub, s, quiet, resume=load_checkpoint_file(sub / "checkpoint.pt"))
            continue
        # Never started, or stopped before its first checkpoint: that seed starts again.
        per_seed[s] = run_single(cfg, prepare_run_dir(cfg, sub, s, overwrite=True), s, quiet)
    summary = {"seeds": list(cfg.run.seeds), **aggregate(list(per_seed.values())),
               "per_seed": {str(k): v for k, v in per_seed.items()}}
    write_json(run_dir / "summary.json", summary)
    write_status(run_dir, "complete")
    return summary
