"""``freeenergy run|resume ... --nproc-per-node K``: check the input once, then start torchrun.

Under a bare ``torchrun --nproc_per_node K -m experiments run ...`` every rank
reads the config, and a bad input fails every worker (torchrun then adds its own
traceback). Launched this way, the config, the data-parallel rules, the
environment and the output folder are checked once in this process; a bad input
is the usual one line (exit code 2) and no worker starts. A good one runs
``python -m torch.distributed.run --standalone --nproc_per_node K -m experiments
...`` with the same arguments and returns its exit code.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from experiments.config import Config, ConfigError
from experiments.errors import CheckpointError


def check_run(cfg: Config, nproc: int, out: str | None, overwrite: bool) -> None:
    """Everything a data-parallel ``run`` can be refused for, before any worker starts."""
    from experiments.io.placement import target_dir
    from experiments.runner import preflight
    from experiments.scale.distributed import check_supported

    _check_nproc(nproc)
    check_supported(cfg, nproc)
    preflight(cfg)
    run_dir = target_dir(cfg, out, cfg.run.seeds[0] if cfg.run.seeds else cfg.run.seed)
    if out is not None and (run_dir / "config.yaml").exists() and not overwrite:
        raise ConfigError(f"--out {str(run_dir)!r} already holds a run (config.yaml); continue it with "
                          f"`freeenergy resume {run_dir} --nproc-per-node {nproc}`, pass --overwrite, or pick "
                          f"another folder")


def check_resume(run_dir: str | Path, nproc: int) -> None:
    """Everything a data-parallel ``resume`` can be refused for: the folder, its checkpoint, the process count."""
    from experiments.context import load_checkpoint_file
    from experiments.runner import load_run_config, preflight
    from experiments.scale.distributed import check_supported

    _check_nproc(nproc)
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if (run_dir / "summary.json").exists():
        raise CheckpointError(f"{str(run_dir)!r} already completed (summary.json exists); nothing to resume")
    ckpt = load_checkpoint_file(run_dir / "checkpoint.pt")
    ranks = ckpt["state"].get("ranks") if isinstance(ckpt["state"], dict) else None
    if ranks is None:
        raise CheckpointError(f"{str(run_dir)!r} holds a single-process checkpoint: resume it with "
                              f"`freeenergy resume {run_dir}` (no --nproc-per-node)")
    if len(ranks) != nproc:
        raise CheckpointError(f"--nproc-per-node {nproc} is invalid for {str(run_dir)!r}: its checkpoint was "
                              f"written by {len(ranks)} processes; expected --nproc-per-node {len(ranks)}")
    check_supported(cfg, nproc)
    preflight(cfg)


def _check_nproc(nproc: int) -> None:
    if nproc < 1:
        raise ConfigError(f"--nproc-per-node {nproc} is invalid: expected an integer >= 1")


def torchrun(nproc: int, argv: list[str]) -> int:
    """Run ``python -m experiments ARGV`` as ``nproc`` torchrun workers; their exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "experiments", *argv]
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.call(cmd, env=env)


def worker_argv(args: argparse.Namespace) -> list[str]:
    """The command line each worker runs: this one without ``--nproc-per-node``."""
    if args.command == "resume":
        return ["resume", str(args.run_dir), *(["--quiet"] if args.quiet else [])]
    flags = [("--debug", args.debug), ("--quiet", args.quiet), ("--overwrite", args.overwrite)]
    out = ["--out", str(args.out)] if args.out is not None else []
    return ["run", args.preset, *args.overrides, *out, *[flag for flag, on in flags if on]]
