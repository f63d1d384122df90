"""The one runner: builds the run folder, seeds everything, calls the experiment.

Each experiment kind is a function ``run(ctx) -> dict`` named lazily by a
``"module:function"`` string, so importing the runner stays cheap.
"""
from __future__ import annotations

import importlib
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from experiments.config import Config, to_dict
from experiments.context import RunContext, atomic_write_bytes, resolve_device
from experiments.logger import LocalLogger, MultiLogger, WandbLogger

EXPERIMENTS: dict[str, str] = {
    "generative": "experiments.generative:run",
    "agent": "experiments.agent_run:run",
    "novelty": "experiments.novelty_run:run",
    "umbrella": "experiments.umbrella_run:run",
    "quickstart": "experiments.quickstart:run",
}


def experiment_fn(kind: str) -> Callable[[RunContext], dict]:
    module, fn = EXPERIMENTS[kind].split(":")
    return getattr(importlib.import_module(module), fn)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _short_env(cfg: Config) -> str:
    if cfg.run.kind in ("generative", "novelty"):
        return cfg.data.name
    return cfg.env.id.split("/")[-1].split(":")[-1].replace(" ", "")


def run_name(cfg: Config, seed: int) -> str:
    """``env__experiment__seed__time``."""
    return f"{_short_env(cfg)}__{cfg.run.name or cfg.run.kind}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=_json_default) + "\n").encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def prepare_run_dir(cfg: Config, out: str | Path | None, seed: int) -> Path:
    run_dir = Path(out) if out is not None else Path(cfg.run.out_root) / run_name(cfg, seed)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"output directory {str(run_dir)!r} is not writable ({err.strerror}); "
                              f"pass --out to a writable folder or set run.out_root") from err
    return run_dir


def run_single(cfg: Config, run_dir: Path, seed: int, quiet: bool = False,
               resume_state: dict | None = None) -> dict:
    """Run one seed of ``cfg`` into ``run_dir``; returns the summary written there."""
    device = resolve_device(cfg.env.device)
    seed_everything(seed)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    local = LocalLogger(run_dir)
    tags = list(cfg.logging.tags) + ([f"commit:{c}"] if (c := git_commit()) else [])
    wandb_logger = (None if cfg.logging.wandb == "disabled"
                    else WandbLogger(run_dir, to_dict(cfg), cfg.logging, run_dir.name, tags))
    logger = MultiLogger(local, wandb_logger)
    ctx = RunContext(cfg=cfg, out_dir=run_dir, device=device, seed=seed, logger=logger, quiet=quiet,
                     resume_state=resume_state)
    exit_code = 1
    try:
        summary = dict(experiment_fn(cfg.run.kind)(ctx))
        summary.setdefault("seed", seed)
        summary["status"] = "complete"
        write_json(run_dir / "summary.json", summary)
        logger.log_summary(summary)
        exit_code = 0
        return summary
    finally:
        logger.close(exit_code)


def aggregate(summaries: list[dict]) -> dict:
    """Mean and spread (std, min, max) of every numeric top-level figure across seeds."""
    out: dict[str, Any] = {}
    for key in summaries[0]:
        vals = [s.get(key) for s in summaries]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            arr = np.asarray(vals, dtype=float)
            out[key] = {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()),
                        "max": float(arr.max()), "values": [float(v) for v in arr]}
    return out


def run_experiment(cfg: Config, out: str | Path | None = None, quiet: bool = False) -> tuple[dict, Path]:
    """Run ``cfg`` (every seed of ``run.seeds`` if given); returns (summary, run folder)."""
    seeds = list(cfg.run.seeds) or [cfg.run.seed]
    run_dir = prepare_run_dir(cfg, out, seeds[0])
    if len(seeds) == 1:
        return run_single(cfg, run_dir, seeds[0], quiet), run_dir
    per_seed = {}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    for s in seeds:
        per_seed[s] = run_single(cfg, prepare_run_dir(cfg, run_dir / f"seed_{s}", s), s, quiet)
    summary = {"seeds": seeds, **aggregate(list(per_seed.values())),
               "per_seed": {str(k): v for k, v in per_seed.items()}, "status": "complete"}
    write_json(run_dir / "summary.json", summary)
    return summary, run_dir
