"""``freeenergy sweep SWEEP.yaml``: the trials of a sweep file, run on Ray Tune.

Ray is the scheduler: a local embedded Ray by default (all cores, or
``--workers N``), or an existing cluster with ``--address HOST:PORT``. Every
trial is an ordinary run folder ``<sweep folder>/trials/<params>__<id>/``
(config.yaml, status.json, summary.json, ...) and one W&B run; all of a
sweep's W&B runs share one group (the sweep folder's name).

- A failed trial is recorded (its status.json, and ``trials.json``) and the
  other trials go on.
- Re-running the same command skips finished trials (those with a
  summary.json), resumes interrupted ones from their checkpoint and starts the
  rest, so a sweep that was killed continues where it stopped.
- Ctrl-C stops the sweep cleanly: running trials stop, the table of what
  finished is written, and the command says how to continue.
- One sweep per folder: the sweep holds the folder's lock (as a run does its
  run folder), so a second sweep into it stops with one line.
- A local Ray is shut down when the sweep ends, and a watchdog
  (:mod:`experiments.scale.reaper`) ends Ray's helper processes even when the
  sweep is killed with SIGKILL.

The sweep folder is ``--out DIR`` or ``<run.out_root>/sweeps/<name>`` (with a
``-debug`` suffix for ``--debug``), so the same command finds it again.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import yaml

from experiments.config import ConfigError
from experiments.config.presets import overrides_to_dict, resolve
from experiments.errors import OutputDirError, UserError
from experiments.io import run_folder
from experiments.runner import prepare_run_dir, read_status, write_json, write_status
from experiments.scale.sweep_spec import (
    SweepSpec,
    Trial,
    check_trials,
    expand,
    load_sweep,
    trial_overrides,
)
from experiments.scale.sweep_table import write_table

#: Watchdogs of local Ray sessions started by this process (see experiments.scale.reaper).
_REAPERS: list[Any] = []
INSTALL_HINT = "sweeps need Ray Tune, which is not installed: pip install 'freeenergy[sweep]' (or 'ray[tune]')"


def require_ray() -> Any:
    """``ray`` with ``ray.tune``, or a :class:`UserError` with the install command."""
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError as err:
        raise UserError(INSTALL_HINT) from err
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) that answers; ``auto`` is left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address!r} is invalid: expected HOST:PORT of a Ray head node "
                          f"(e.g. 10.0.0.5:6379), ray://HOST:10001 or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise ConfigError(f"--address {address!r} is unreachable ({err.strerror or err}): is a Ray head "
                          f"running there (`ray start --head`)?") from err


def start_ray(address: str | None, workers: int | None) -> bool:
    """Connect to ``address`` or start a local Ray; True when this call started it (and must stop it)."""
    ray = require_ray()
    if ray.is_initialized():  # an embedding program (or a test) already holds a Ray session
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "warning", "log_to_driver": False}
    if address:
        check_address(address)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError) as err:
            raise ConfigError(f"--address {address!r}: cannot join the Ray cluster: "
                              f"{str(err).splitlines()[0]}") from err
    else:
        ray.init(num_cpus=workers or os.cpu_count() or 1, **kwargs)
    return True


def run_trial(config: dict) -> dict:
    """The Ray Tune trainable: one trial into its run folder (fresh, resumed, or already done)."""
    import torch

    from experiments.runner import resume_experiment, run_experiment

    job = json.loads(config["job"])
    run_dir = Path(job["dir"])
    if (run_dir / "summary.json").exists():
        return {"status": "complete", "skipped": True}
    cfg = resolve(job["preset"], debug=job["debug"], extra=job["overrides"])
    if cfg.run.threads == 0:
        torch.set_num_threads(1)  # one trial per CPU: torch threads would fight each other
    try:
        if (run_dir / "checkpoint.pt").exists() and (run_dir / "config.yaml").exists():
            summary, _ = resume_experiment(run_dir, quiet=True)
        else:
            summary, _ = run_experiment(cfg, out=run_dir, quiet=True, overwrite=True)
    except Exception as err:  # noqa: BLE001 -- a failed trial is recorded in its run folder; the sweep goes on
        error = f"{type(err).__name__}: {err}"[:500]
        if read_status(run_dir).get("status") in (None, "running"):  # failed before the run began
            write_status(run_dir, "failed", error=error)
        return {"status": "failed", "error": error}
    return {"status": "complete", **{k: v for k, v in summary.items()
                                     if isinstance(v, (int, float)) and not isinstance(v, bool)}}


def trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def sweep_folder(spec: SweepSpec, out: str | None, debug: bool, extra: dict) -> Path:
    """``--out`` exactly, else ``<run.out_root>/sweeps/<name>[-debug]`` (created)."""
    if out is not None:
        sweep_dir = Path(out)
    else:
        root = resolve(spec.preset, debug=debug, extra=extra).run.out_root
        sweep_dir = Path(root) / "sweeps" / f"{spec.name}{'-debug' if debug else ''}"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return sweep_dir


def claim_sweep_folder(sweep_dir: Path, spec: SweepSpec, debug: bool, extra: dict) -> None:
    """Check ``sweep.yaml`` against this sweep (or write it); call while holding the folder's lock."""
    manifest = {"sweep": spec.raw, "debug": debug, "overrides": extra}
    path = sweep_dir / "sweep.yaml"
    if path.exists():
        try:
            old = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            old = None
        if old != json.loads(json.dumps(manifest)):
            raise OutputDirError(f"{str(sweep_dir)!r} holds a different sweep (its sweep.yaml differs from this "
                                 f"file, --debug or overrides); pass another --out")
    if not path.exists():
        path.write_text(yaml.safe_dump(json.loads(json.dumps(manifest)), sort_keys=False))


def outcome(run_dir: Path) -> dict:
    """What a trial's run folder says: complete (with its summary), failed, interrupted, pending."""
    if (run_dir / "summary.json").exists():
        try:
            return {"status": "complete", "summary": json.loads((run_dir / "summary.json").read_text())}
        except (OSError, ValueError):
            return {"status": "failed", "error": "unreadable summary.json"}
    status = read_status(run_dir)
    if not status:
        return {"status": "pending"}
    state = status.get("status")
    if state == "running":  # killed with its process: never finished
        state = "interrupted"
    return {"status": state, "error": status.get("error")}


def _progress_callback(total: int, echo: Any) -> Any:
    """A Tune callback that prints one line per finished trial (Tune's own tables are off)."""
    from ray.tune import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.done = 0

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.done += 1
            job = json.loads(trial.config["job"])
            status = result.get("status", "?")
            extra = f": {result.get('error')}" if status == "failed" else ""
            echo(f"[{self.done}/{total}] {status:<8} {Path(job['dir']).name}{extra}")

    return Progress()


def _tune(jobs: list[dict], workers: int | None, storage: Path, echo: Any) -> int:
    """Run ``jobs`` as Ray Tune trials; returns how many Ray reported as finished."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune's status tables would bury the sweep's lines
    from ray import tune

    trainable = tune.with_resources(run_trial, {"cpu": 1})
    tuner = tune.Tuner(
        trainable,
        param_space={"job": tune.grid_search([json.dumps(j) for j in jobs])},
        tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=workers or None, reuse_actors=True,
                                    trial_dirname_creator=trial_dirname, trial_name_creator=trial_dirname),
        run_config=tune.RunConfig(name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(storage.resolve()),
                                  verbose=0, callbacks=[_progress_callback(len(jobs), echo)],
                                  failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
    )
    grid = tuner.fit()
    return sum(1 for r in grid if r.metrics and "status" in r.metrics)


def run_sweep(name_or_path: str, overrides: list[str] = (), out: str | None = None, debug: bool = False,
              workers: int | None = None, address: str | None = None, metrics: list[str] = (),
              echo: Any = print) -> tuple[Path, dict[str, int]]:
    """Run (or continue) a sweep; returns the sweep folder and the count of trials per status.

    Raises:
        ConfigError: a bad sweep file, parameter, value, preset or address.
        KeyboardInterrupt: Ctrl-C; what finished is kept and tabled.
    """
    spec = load_sweep(name_or_path)
    extra = overrides_to_dict(list(overrides))
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers} is invalid: expected an integer >= 1")
    trials = expand(spec)
    sweep_dir = sweep_folder(spec, out, debug, extra)
    with run_folder.locked(sweep_dir):  # one sweep per folder, from the first file to the table
        claim_sweep_folder(sweep_dir, spec, debug, extra)
        return _run_locked(spec, trials, sweep_dir, extra, debug, workers, address, metrics, echo)


def _run_locked(spec: SweepSpec, trials: list[Trial], sweep_dir: Path, extra: dict, debug: bool,
                workers: int | None, address: str | None, metrics: list[str], echo: Any
                ) -> tuple[Path, dict[str, int]]:
    group = sweep_dir.name
    check_trials(spec, trials, extra, debug, group)
    if address:
        check_address(address)  # before anything slow
    ray = require_ray()
    metric_names = list(dict.fromkeys([spec.metric, *metrics]))
    dirs = {t.tid: sweep_dir / "trials" / t.folder for t in trials}
    pending = [t for t in trials if not (dirs[t.tid] / "summary.json").exists()]
    echo(f"sweep {spec.name}: {len(trials)} trials, {len(trials) - len(pending)} already done; folder {sweep_dir}")
    interrupted = False
    if pending:
        for t in pending:  # a folder per trial now, so a kill leaves every trial's place known
            if not (dirs[t.tid] / "config.yaml").exists():
                prepare_run_dir(resolve(spec.preset, debug=debug, extra=trial_overrides(spec, t, extra, group)),
                                dirs[t.tid], 0, overwrite=True)
        jobs = [{"dir": str(dirs[t.tid].resolve()), "preset": spec.preset, "debug": debug,
                 "overrides": trial_overrides(spec, t, extra, group)} for t in pending]
        if not address and not ray.is_initialized():
            from experiments.scale.reaper import guard

            _REAPERS.append(guard())  # Ray's helpers end with this process, even on SIGKILL
        started = start_ray(address, workers)
        try:
            _tune(jobs, workers, sweep_dir / "ray", echo)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if started:
                ray.shutdown()
    return _finish(sweep_dir, spec, trials, dirs, metric_names, interrupted, echo, debug)


def _finish(sweep_dir: Path, spec: SweepSpec, trials: list[Trial], dirs: dict[str, Path], metrics: list[str],
            interrupted: bool, echo: Any, debug: bool = False) -> tuple[Path, dict[str, int]]:
    """Record every trial's outcome, write the table, report; re-raise an interrupt at the end."""
    outcomes = {t.tid: outcome(dirs[t.tid]) for t in trials}
    record = [{"id": t.tid, "params": t.params, "dir": str(dirs[t.tid]), "status": outcomes[t.tid]["status"],
               **({"error": outcomes[t.tid]["error"]} if outcomes[t.tid].get("error") else {})} for t in trials]
    write_json(sweep_dir / "trials.json", record)
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    not_done = sum(v for k, v in counts.items() if k != "complete")
    if not_done and not interrupted and counts.get("failed", 0) < not_done:
        interrupted = True  # Ray stopped early (Ctrl-C caught inside Tune): same as an interrupt
    paths = write_table(sweep_dir, spec, trials, outcomes, metrics, debug=debug)
    echo(f"trials:     {json.dumps(counts)}")
    echo(f"table:      {paths['markdown']}\n            {paths['csv']}\n            {paths['json']}")
    for key, path in paths.items():
        if key.startswith("figure:"):
            echo(f"figure:     {path}")
    if counts.get("failed"):
        echo(f"failed:     see {sweep_dir / 'trials.json'} and each trial's status.json")
    if interrupted:
        raise KeyboardInterrupt(f"sweep interrupted; run the same command again to continue ({sweep_dir})")
    return sweep_dir, counts
