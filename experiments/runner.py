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

import dataclasses
import importlib
import json
import random
import shutil
import signal
import subprocess
import threading
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import yaml

from experiments.config import Config, ConfigError, from_dict, to_dict
from experiments.context import RunContext, atomic_write_bytes, load_checkpoint_file, resolve_device, set_rng_state
from experiments.errors import CheckpointError, OutputDirError, Terminated
from experiments.logger import LocalLogger, MultiLogger, WandbLogger, read_metrics, truncate_metrics

EXPERIMENTS: dict[str, str] = {
    "generative": "experiments.generative:run",
    "agent": "experiments.agent_run:run",
    "novelty": "experiments.novelty_run:run",
    "umbrella": "experiments.umbrella_run:run",
    "quickstart": "experiments.quickstart:run",
}

TIMING_SUFFIXES = ("_seconds", "_per_second")
RUN_FILES = ("config.yaml", "status.json", "metrics.jsonl", "summary.json", "checkpoint.pt")


def experiment_fn(kind: str) -> Callable[[RunContext], dict]:
    """The ``run(ctx)`` function of an experiment kind."""
    if kind not in EXPERIMENTS:
        raise ConfigError(f"run.kind={kind!r} is invalid: expected one of {', '.join(map(repr, EXPERIMENTS))}")
    module, fn = EXPERIMENTS[kind].split(":")
    return getattr(importlib.import_module(module), fn)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices); the one place seeds are set."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_timing_key(key: str) -> bool:
    """Summary keys that measure time and so differ between identical runs."""
    return key.endswith(TIMING_SUFFIXES)


def _short_env(cfg: Config) -> str:
    if cfg.run.kind in ("generative", "novelty"):
        return cfg.data.name
    if cfg.run.kind == "quickstart":
        return "quickstart"
    return cfg.env.id.split("/")[-1].split(":")[-1].replace(" ", "")


def run_name(cfg: Config, seed: int) -> str:
    """``env__experiment__seed__time``."""
    return f"{_short_env(cfg)}__{cfg.run.name or cfg.run.kind}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def git_commit() -> str | None:
    """Short hash of the checked-out commit, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (NaN/inf as null/large numbers would be invalid JSON: see _clean)."""
    atomic_write_bytes(path, (json.dumps(_clean(data), indent=2, default=_json_default) + "\n").encode())


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(i) for k, i in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(i) for i in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return _clean(v.tolist())
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return str(v)
    return v


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_config(run_dir: Path, cfg: Config) -> None:
    atomic_write_bytes(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False).encode())


def read_status(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def write_status(run_dir: Path, status: str, **extra: Any) -> None:
    data = {**read_status(run_dir), "status": status, **extra}
    if status in ("running", "complete"):  # a failure's details must not outlive it
        for key in ("error", "traceback", "checkpoint"):
            if key not in extra:
                data.pop(key, None)
    write_json(Path(run_dir) / "status.json", data)


def prepare_run_dir(cfg: Config, out: str | Path | None, seed: int, overwrite: bool = False) -> Path:
    """Create (and check writable) the run folder: ``out`` exactly, or a new one under ``run.out_root``.

    Raises:
        OutputDirError: not writable, or ``out`` already holds a run and ``overwrite`` is off.
    """
    if out is not None:
        run_dir = Path(out)
    else:
        base = Path(cfg.run.out_root) / run_name(cfg, seed)
        run_dir, n = base, 1
        while run_dir.exists():  # two runs started in the same second
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(f"output directory {str(run_dir)!r} is not writable ({err.strerror or err}); "
                             f"pass --out to a writable folder or set run.out_root=DIR") from err
    if (run_dir / "config.yaml").exists():
        if not overwrite:
            raise OutputDirError(f"--out {str(run_dir)!r} already holds a run (config.yaml); continue it with "
                                 f"`freeenergy resume {run_dir}`, pass --overwrite, or pick another folder")
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        # Figures, arrays and the W&B folder of the old run would pass for the new run's.
        for path in [*run_dir.glob("*.png"), *run_dir.glob("*.npy")]:
            path.unlink()
        shutil.rmtree(run_dir / "wandb", ignore_errors=True)
    return run_dir


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
    fn = experiment_fn(cfg.run.kind)
    device = resolve_device(cfg.env.device)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(seed)
    if resume is not None:
        truncate_metrics(run_dir / "metrics.jsonl", resume["step"])
        set_rng_state(resume["rng"])
    else:
        write_config(run_dir, cfg)
    previous = read_status(run_dir)
    write_status(run_dir, "running", seed=seed, started=time.strftime("%Y-%m-%dT%H:%M:%S"),
                 resumed_from_step=resume["step"] if resume is not None else None)
    local = LocalLogger(run_dir)
    wandb_logger = None
    if use_wandb and cfg.logging.wandb != "disabled":
        tags = list(cfg.logging.tags) + ([f"commit:{c}"] if (c := git_commit()) else [])
        wandb_logger = WandbLogger(run_dir, to_dict(cfg), cfg.logging, run_dir.name, tags,
                                   run_id=previous.get("wandb_id") if resume is not None else None)
        if wandb_logger.run_id:
            write_status(run_dir, "running", wandb_id=wandb_logger.run_id)
    logger = MultiLogger(local, wandb_logger)
    ctx = RunContext(cfg=cfg, out_dir=run_dir, device=device, seed=seed, logger=logger, quiet=quiet,
                     resume_state=resume["state"] if resume is not None else None,
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
        return summary
    except KeyboardInterrupt as err:
        write_status(run_dir, "interrupted", error=_error_text(err), checkpoint=_checkpoint_note(run_dir))
        _tag(err, run_dir)
        raise
    except BaseException as err:
        write_status(run_dir, "failed", error=_error_text(err), checkpoint=_checkpoint_note(run_dir),
                     traceback=traceback.format_exc(limit=8))
        _tag(err, run_dir)
        raise
    finally:
        logger.close(exit_code)


def draw_coverage_curve(ctx: RunContext) -> Path | None:
    """``coverage.png`` from the ``explore/coverage`` rows of metrics.jsonl (all of them, so a
    resumed run's curve is whole). Runs that log no coverage (composites such as the
    quickstart draw their own) are left alone. A drawing error only warns: the results stand."""
    rows = [r for r in read_metrics(ctx.out_dir / "metrics.jsonl") if r.get("explore/coverage") is not None]
    if len(rows) < 2:
        return None
    try:
        from experiments.maps import plot_coverage_curve

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


def _checkpoint_note(run_dir: Path) -> str | None:
    path = Path(run_dir) / "checkpoint.pt"
    return str(path) if path.exists() else None


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


def _run_seeds(cfg: Config, run_dir: Path, quiet: bool, resuming: bool) -> dict:
    """Every seed of ``run.seeds`` into ``run_dir/seed_<s>``, then the aggregate summary.

    The seeds' W&B runs share a group (``logging.group``, else the run folder's name).
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


def preflight(cfg: Config) -> None:
    """Checks that need no run folder (experiment importable, device present), so a
    config that cannot run leaves nothing behind."""
    resolve_device(cfg.env.device)
    if cfg.run.kind in ENV_KINDS:
        check_env(cfg)
    experiment_fn(cfg.run.kind)


ENV_KINDS = ("agent", "umbrella")


def check_env(cfg: Config) -> None:
    """Build one copy of ``env`` to turn a bad id, entry point, kwarg or space into a ConfigError.

    An entry point (``package.module:Class``) imports user code: by design, a
    config can plug in any environment.
    """
    import gymnasium as gym

    from experiments.build import make_env

    try:
        env = make_env(cfg, "cpu", num_envs=1)
    except (ValueError, TypeError, ImportError, KeyError, gym.error.Error) as err:
        raise ConfigError(f"env.id={cfg.env.id!r} (env.kwargs={cfg.env.kwargs!r}) cannot be built: {err}") from err
    try:
        env.close()
    except Exception:  # closing a probe env is best effort
        pass


def run_experiment(cfg: Config, out: str | Path | None = None, quiet: bool = False,
                   overwrite: bool = False) -> tuple[dict, Path]:
    """Run ``cfg`` (every seed of ``run.seeds`` if given); returns (summary, run folder)."""
    seeds = list(cfg.run.seeds) or [cfg.run.seed]
    preflight(cfg)
    run_dir = prepare_run_dir(cfg, out, seeds[0], overwrite=overwrite)
    if len(seeds) == 1:
        return run_single(cfg, run_dir, seeds[0], quiet), run_dir
    write_config(run_dir, cfg)
    write_status(run_dir, "running", seeds=seeds)
    try:
        return _run_seeds(cfg, run_dir, quiet, resuming=False), run_dir
    except KeyboardInterrupt as err:
        write_status(run_dir, "interrupted", error=_error_text(err))
        raise
    except BaseException as err:
        write_status(run_dir, "failed", error=_error_text(err))
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
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CheckpointError(f"{str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{str(path)!r} does not hold a config mapping")
    return from_dict(data)


def resume_experiment(run_dir: str | Path, quiet: bool = False) -> tuple[dict, Path]:
    """Continue the run in ``run_dir`` from its last checkpoint, in the same folder.

    Raises:
        CheckpointError: no config, no checkpoint, a corrupt checkpoint, or the run already finished.
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    if (run_dir / "summary.json").exists():
        raise CheckpointError(f"{str(run_dir)!r} already completed (summary.json exists); nothing to resume")
    preflight(cfg)
    if len(cfg.run.seeds) > 1:
        return _run_seeds(cfg, run_dir, quiet, resuming=True), run_dir
    ckpt = load_checkpoint_file(run_dir / "checkpoint.pt")
    seed = int(ckpt.get("seed", cfg.run.seed))
    return run_single(cfg, run_dir, seed, quiet, resume=ckpt), run_dir
