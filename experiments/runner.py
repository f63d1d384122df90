"""The one runner: builds the run folder, seeds everything, calls the experiment.

Each experiment kind is a function ``run(ctx) -> dict`` named lazily by a
``"module:function"`` string, so importing the runner stays cheap.

A run folder ``runs/<env>__<experiment>__<seed>__<time>/`` holds:

- ``config.yaml``   the resolved config (also sent to W&B);
- ``status.json``   ``running`` while it runs, then ``complete``, ``failed`` or
  ``interrupted`` with the error;
- ``metrics.jsonl`` every logged scalar row, append-only;
- ``summary.json``  written only when the run completes (so a folder without
  it is never mistaken for a finished run);
- ``checkpoint.pt`` the last checkpoint (for ``freeenergy resume``);
- ``*.png``         maps and plots; ``wandb/`` the W&B run (offline by default).

Seeding happens here and only here (:func:`seed_everything`). Summary keys
ending in ``_seconds`` or ``_per_second`` are timings; everything else is a
deterministic function of the config and the seed on CPU.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from experiments import kinds
from experiments.config import Config, ConfigError, from_dict, to_dict
from experiments.config.engine import load_yaml, yaml_error_text
from experiments.context import (
    RunContext,
    check_resume_config,
    load_checkpoint_file,
    resolve_device,
    set_rng_state,
)
from experiments.env_check import check_env
from experiments.errors import CheckpointError, Terminated, UserError, disk_full
from experiments.io import run_folder
from experiments.io.logger import (
    LocalLogger,
    MultiLogger,
    WandbLogger,
    read_metrics,
    refuse_symlink,
    truncate_metrics,
)
from experiments.io.placement import make_dir, prepare_run_dir, run_name, target_dir  # noqa: F401 (the runner's API)
from experiments.io.progress import OVERALL, count_parts
from experiments.io.status import (
    checkpoint_note,
    note_killed,
    read_status,
    write_config,
    write_json,
    write_status,
    write_status_anyhow,
)
from experiments.seeds import run_seeds

TIMING_SUFFIXES = ("_seconds", "_per_second")
#: Errors that restoring a checkpoint's state raises when the state does not fit the run.
UNFIT_CHECKPOINT = (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError)
RUN_FILES = ("config.yaml", "status.json", "metrics.jsonl", "summary.json", "checkpoint.pt")


def experiment_fn(kind: str) -> Callable[[RunContext], dict]:
    """The ``run(ctx)`` function of run kind ``kind`` (its row of :mod:`experiments.kinds`)."""
    try:
        return kinds.run_function(kind)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices); the one place seeds are set."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_timing_key(key: str) -> bool:
    """Summary keys that measure time and so differ between identical runs."""
    return key.endswith(TIMING_SUFFIXES)


def git_commit() -> str | None:
    """Short hash of the checked-out commit, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(f"received signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _error_text(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt):
        return str(err) or "interrupted (Ctrl-C)"
    return f"{type(err).__name__}: {err}"


def run_single(cfg: Config, run_dir: Path, seed: int, quiet: bool = False, resume: dict | None = None,
               use_wandb: bool = True) -> dict:
    """Run one seed of ``cfg`` into ``run_dir`` (already created); returns the summary written there.

    Args:
        resume: a checkpoint read by :func:`~experiments.context.load_checkpoint_file`;
            the run continues from it (RNG states restored, later metric rows dropped).
        use_wandb: False keeps this run local-only (sub-runs of a composite run).

    On success ``summary.json`` and ``status.json`` (complete) are written; on
    an exception or interrupt ``status.json`` records it and the exception propagates.
    """
    run_dir = Path(run_dir)
    with run_folder.locked(run_dir):
        run_folder.remove_stray_temps(run_dir)
        return _run_single(cfg, run_dir, seed, quiet, resume, use_wandb)


def _run_single(cfg: Config, run_dir: Path, seed: int, quiet: bool, resume: dict | None,
                use_wandb: bool) -> dict:
    fn = experiment_fn(cfg.run.kind)
    device = resolve_device(cfg.env.device)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(seed)
    refuse_symlink(run_dir / "metrics.jsonl")  # before anything is written
    if resume is not None:
        check_resume_config(cfg, resume, run_dir)
        truncate_metrics(run_dir / "metrics.jsonl", resume["step"], resume.get("metrics_rows"))
        set_rng_state(resume["rng"])
    else:
        write_config(run_dir, cfg)
    local = LocalLogger(run_dir)  # after truncation (it appends to the file as it now is)
    previous = read_status(run_dir)
    write_status(run_dir, "running", seed=seed, pid=os.getpid(), started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                 resumed_from_step=resume["step"] if resume is not None else None)
    wandb_logger = _wandb_logger(cfg, run_dir, previous.get("wandb_id") if resume is not None else None) \
        if use_wandb and cfg.logging.wandb != "disabled" else None
    logger = MultiLogger(local, wandb_logger)
    ctx = RunContext(cfg=cfg, out_dir=run_dir, device=device, seed=seed, logger=logger, quiet=quiet,
                     resume_state=resume["state"] if resume is not None else None,
                     resume_rng=resume["rng"] if resume is not None else None,
                     last_step=resume["step"] if resume is not None else -1)
    exit_code = 1
    start = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            summary = dict(fn(ctx))
        summary.setdefault("seed", seed)
        draw_coverage_curve(ctx)
        summary["wall_seconds"] = round(time.perf_counter() - start, 3)
        write_json(run_dir / "summary.json", summary)
        write_status(run_dir, "complete")
        logger.log_summary(summary)
        exit_code = 0
        OVERALL.part_done()
        return summary
    except KeyboardInterrupt as err:
        write_status_anyhow(run_dir, "interrupted", error=_error_text(err), checkpoint=checkpoint_note(run_dir))
        _tag(err, run_dir)
        raise
    except BaseException as err:
        full = disk_full(err)
        details = {"traceback": traceback.format_exc(limit=8)} if full is None else {}
        write_status_anyhow(run_dir, "failed", error=_failure_text(err), checkpoint=checkpoint_note(run_dir),
                            **details)
        _tag(err, run_dir)
        if resume is not None and not ctx.progressed and isinstance(err, UNFIT_CHECKPOINT) \
                and not isinstance(err, UserError):  # a user error already says what to do
            raise _unfit_checkpoint(err, run_dir) from err
        raise
    finally:
        try:
            logger.close(exit_code)
        except OSError:
            if exit_code == 0:
                raise  # a failing run's own error is the one to report


def _failure_text(err: BaseException) -> str:
    """``status.json``'s error: a full disk says so first, whatever raised it."""
    full = disk_full(err)
    if full is None:
        return _error_text(err)
    return f"disk full: {full.strerror or full}" + (f" writing {full.filename!r}" if full.filename else "")


def _wandb_logger(cfg: Config, run_dir: Path, run_id: str | None) -> WandbLogger:
    """The W&B mirror of a run (``run_id``: continue that W&B run on resume)."""
    tags = list(cfg.logging.tags) + ([f"commit:{c}"] if (c := git_commit()) else [])
    config = kinds.used_config(cfg.run.kind, to_dict(cfg))  # not the defaults of sections it never reads
    wandb_logger = WandbLogger(run_dir, config, cfg.logging, wandb_name(cfg, run_dir), tags, run_id=run_id)
    if wandb_logger.run_id:
        write_status(run_dir, "running", wandb_id=wandb_logger.run_id)
    return wandb_logger


def wandb_name(cfg: Config, run_dir: Path) -> str:
    """The W&B run's name: the run folder's, or for one seed of several (``seed_<s>``) the experiment, the
    seed and a short id of the parent folder, so that experiments never share a name."""
    if run_dir.name.startswith("seed_") and run_dir.parent.name:
        short = hashlib.sha1(str(run_dir.resolve().parent).encode()).hexdigest()[:6]
        return f"{cfg.run.name or cfg.run.kind}__{run_dir.name.replace('_', '')}__{short}"
    return run_dir.name


def _unfit_checkpoint(err: BaseException, run_dir: Path) -> CheckpointError:
    """Restoring the state failed before the run moved: a tampered or foreign checkpoint."""
    return CheckpointError(f"checkpoint {str(run_dir / 'checkpoint.pt')!r} does not fit this run "
                           f"({_error_text(err).splitlines()[0][:300]}); it was changed or comes from "
                           f"another run; start again with `freeenergy run {run_dir / 'config.yaml'} "
                           f"--out {run_dir} --overwrite`")


def draw_coverage_curve(ctx: RunContext) -> Path | None:
    """``coverage.png`` from the ``explore/coverage`` rows of metrics.jsonl (all of them, so a
    resumed run's curve is whole). Runs that log no coverage (composites such as the
    quickstart draw their own) are left alone. A drawing error only warns: the results stand."""
    rows = [r for r in read_metrics(ctx.out_dir / "metrics.jsonl") if r.get("explore/coverage") is not None]
    if len(rows) < 2:
        return None
    try:
        from experiments.io.maps import plot_coverage_curve

        fig = plot_coverage_curve([r["step"] for r in rows], {ctx.cfg.run.name or ctx.cfg.run.kind:
                                                              [r["explore/coverage"] for r in rows]},
                                  title="coverage of reachable cells")
        return ctx.save_figure(fig, "coverage")
    except Exception as err:  # a figure must never cost the run
        warnings.warn(f"could not draw the coverage curve: {type(err).__name__}: {err}", stacklevel=2)
        return None


def _tag(err: BaseException, run_dir: Path) -> None:
    """Remember the (innermost) run folder on the exception, for the CLI's message."""
    if getattr(err, "run_dir", None) is None:
        try:
            err.run_dir = run_dir  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass


def preflight(cfg: Config) -> None:
    """Checks that need no run folder (numbers, experiment importable, device present, env
    buildable, memory that fits), so a config that cannot run leaves nothing behind."""
    from experiments import guards

    guards.check_config(cfg)
    device = resolve_device(cfg.env.device)
    dims = check_env(cfg) if kinds.run_kind(cfg.run.kind).needs_env else {}
    guards.check_memory(cfg, device, **dims)
    experiment_fn(cfg.run.kind)



def run_experiment(cfg: Config, out: str | Path | None = None, quiet: bool = False,
                   overwrite: bool = False) -> tuple[dict, Path]:
    """Run ``cfg`` (every seed of ``run.seeds`` if given); returns (summary, run folder)."""
    seeds = list(cfg.run.seeds) or [cfg.run.seed]
    preflight(cfg)
    OVERALL.begin(count_parts(cfg), quiet or cfg.logging.quiet)
    run_dir = target_dir(cfg, out, seeds[0])
    make_dir(run_dir)
    with run_folder.locked(run_dir):  # held from the first file to the last
        prepare_run_dir(cfg, run_dir, seeds[0], overwrite=overwrite)
        if len(seeds) == 1:
            return run_single(cfg, run_dir, seeds[0], quiet), run_dir
        write_config(run_dir, cfg)
        write_status(run_dir, "running", seeds=seeds, pid=os.getpid())
        try:
            return run_seeds(cfg, run_dir, quiet, resuming=False, run_single=run_single), run_dir
        except KeyboardInterrupt as err:
            write_status_anyhow(run_dir, "interrupted", error=_error_text(err))
            raise
        except BaseException as err:
            write_status_anyhow(run_dir, "failed", error=_failure_text(err))
            raise


def load_run_config(run_dir: str | Path) -> Config:
    """The Config saved in ``run_dir/config.yaml``.

    Raises:
        CheckpointError: the folder or its config is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {str(run_dir)!r} does not exist")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} is not a run folder: it has no config.yaml")
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise CheckpointError(f"{str(path)!r} is not valid YAML: {yaml_error_text(err)}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} does not hold a config mapping")
    return from_dict(data)


def resume_experiment(run_dir: str | Path, quiet: bool = False) -> tuple[dict, Path]:
    """Continue the run in ``run_dir`` from its last checkpoint, in the same folder.

    Raises:
        CheckpointError: no config, no checkpoint, a corrupt checkpoint, or the run already finished.
        OutputDirError: another process is running in the folder.
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if (run_dir / "summary.json").exists():
        raise CheckpointError(f"{str(run_dir)!r} already completed (summary.json exists); nothing to resume")
    with run_folder.locked(run_dir):
        note_killed(run_dir)
        preflight(cfg)
        OVERALL.begin(count_parts(cfg), quiet or cfg.logging.quiet)
        if len(cfg.run.seeds) > 1:
            return run_seeds(cfg, run_dir, quiet, resuming=True, run_single=run_single), run_dir
        if not (run_dir / "checkpoint.pt").is_file():
            raise CheckpointError(f"no checkpoint in {str(run_dir)!r}: the run stopped before writing one, so "
                                  f"there is nothing to resume; start it again in the same folder with "
                                  f"`freeenergy run {run_dir / 'config.yaml'} --out {run_dir} --overwrite`")
        ckpt = load_checkpoint_file(run_dir / "checkpoint.pt")
        ranks = ckpt["state"].get("ranks") if isinstance(ckpt["state"], dict) else None
        if ranks is not None:
            k = len(ranks)
            raise CheckpointError(f"{str(run_dir)!r} holds a data-parallel checkpoint of {k} processes: resume it "
                                  f"with `freeenergy resume {run_dir} --nproc-per-node {k}` (or `torchrun "
                                  f"--nproc_per_node {k} -m experiments resume {run_dir}`)")
        seed = int(ckpt.get("seed", cfg.run.seed))
        return run_single(cfg, run_dir, seed, quiet, resume=ckpt), run_dir
