"""One logger interface; backends: local files and Weights & Biases.

Local files are the record that is never lost: ``metrics.jsonl`` (one JSON
object per line, appended and flushed) beside the run's PNGs and
``summary.json``. W&B is a mirror: if it fails to start or to log (no network,
no account, a broken install), the run warns once and goes on locally.

Scalars are namespaced by their key (``env/``, ``world_model/``, ``agent/``,
``explore/``); images are PNG files already on disk, sent as ``wandb.Image``.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from experiments.errors import OutputDirError
from experiments.io.run_folder import record, record_tree, refuse_symlink, temp_name, write_new


class WandbWarning(UserWarning):
    """W&B stopped working; the run continues with local logging."""


class Logger:
    """Interface: scalars, images, summary, close. Every method is cheap to call."""

    def log_scalars(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        """Record ``metrics`` (name -> number) at env step ``step`` (or at step ``step`` of the
        restarting step axis ``axis``, e.g. one generative model's training steps)."""

    def log_image(self, key: str, path: Path, step: int | None = None) -> None:
        """Record the PNG at ``path`` under ``key`` (at ``step``, or the current step)."""

    def log_summary(self, summary: dict) -> None:
        """Record the final summary (nested mapping of numbers and strings)."""

    def update_config(self, config: dict) -> None:
        """Add to the run's recorded config (e.g. the configs of a composite run's parts)."""

    def close(self, exit_code: int = 0) -> None:
        """Flush and release; ``exit_code`` != 0 marks a failed or interrupted run."""


def _jsonable(v: Any) -> Any:
    """A number JSON can hold: tensors/numpy scalars unwrapped, NaN -> None, inf clipped."""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else (1e308 if v > 0 else -1e308)
    return v


def read_metrics(path: Path) -> list[dict]:
    """Rows of a ``metrics.jsonl``; a last line cut short by a crash is skipped."""
    rows = []
    if not Path(path).exists():
        return rows
    with open(path, errors="replace") as fh:  # bytes that are not UTF-8 make a line that does not parse
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def truncate_metrics(path: Path, last_step: int, rows: int | None = None) -> int:
    """Keep only rows with ``step <= last_step`` (or, given ``rows``, the first ``rows`` whole
    rows) and only whole lines; returns rows dropped.

    Used on resume: rows logged after the checkpoint are logged again by the
    resumed run, so dropping them keeps every step exactly once.
    """
    path = Path(path)
    if not path.exists():
        return 0
    refuse_symlink(path)
    lines = path.read_text(errors="replace").splitlines()
    keep, dropped = [], 0
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if isinstance(row, dict) and (row.get("step", 0) <= last_step if rows is None else len(keep) < rows):
            keep.append(line)
        else:
            dropped += 1
    tmp = temp_name(path)
    try:
        write_new(tmp, "".join(line + "\n" for line in keep).encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return dropped


class LocalLogger(Logger):
    """``metrics.jsonl`` in ``out_dir``: append-only, one flushed line per call."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / "metrics.jsonl"
        refuse_symlink(self.path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as err:
            raise OutputDirError(f"cannot open {str(self.path)!r} for appending: {err.strerror or err}") from err
        self._fh = os.fdopen(fd, "a", buffering=1)
        record(self.path)
        self.rows = len(read_metrics(self.path))  # rows a resumed run keeps

    def log_scalars(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        self.rows += 1

    def close(self, exit_code: int = 0) -> None:
        if not self._fh.closed:
            self._fh.close()


class WandbLogger(Logger):
    """Mirror to W&B; any failure disables it with one warning.

    Args:
        out_dir: the run folder; W&B writes ``out_dir/wandb/<mode>-run-*``.
        config: the resolved config as a plain mapping (sent as the run config).
        logging_cfg: the ``logging`` config section (mode, project, entity, group).
        name: the W&B run name (the run folder's name).
        tags: W&B tags (the config's tags plus ``commit:<sha>``).
        run_id: a W&B run id to continue (``freeenergy resume``), or None.
    """

    _dir: Path | None = None  # the run's wandb/ folder, whose files the run folder's manifest lists

    def __init__(self, out_dir: Path, config: dict, logging_cfg: Any, name: str, tags: list[str],
                 run_id: str | None = None):
        self.run = None
        self.run_id: str | None = None
        self._axes: set[str] = set()
        self._dir = Path(out_dir) / "wandb"
        # W&B prints a "Use W&B Weave" banner when a module named like an LLM library (ours: agents) is
        # loaded; this project traces no LLM calls.
        os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
        try:
            import wandb

            self._wandb = wandb
            self.run = wandb.init(
                project=logging_cfg.project, entity=logging_cfg.entity or None,
                group=logging_cfg.group or None, tags=tags, name=name, config=config,
                mode=logging_cfg.wandb, dir=str(out_dir), id=run_id, resume="allow" if run_id else None,
                reinit="create_new",
                settings=wandb.Settings(console="off", silent=True, init_timeout=60),
            )
            self.run_id = self.run.id
        except Exception as err:  # no network, no account, a broken install: keep going locally
            self._fail("start", err)
        record_tree(self._dir)  # W&B's files, one by one: --overwrite removes those and nothing else

    def _fail(self, what: str, err: Exception) -> None:
        warnings.warn(f"W&B failed to {what} ({type(err).__name__}: {err}); continuing with local logging "
                      f"only (metrics.jsonl and PNGs in the run folder)", WandbWarning, stacklevel=3)
        run, self.run = self.run, None
        if run is not None:
            try:
                run.finish(exit_code=1)
            except Exception:  # already broken; the warning above said so
                pass

    def log_scalars(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        if self.run is None:
            return
        try:
            data = {k: _jsonable(v) for k, v in metrics.items()}
            if axis is None:
                self.run.log(data, step=int(step))
                return
            if axis not in self._axes:  # W&B plots these against their own step, which may restart
                self.run.define_metric(f"{axis}/step", hidden=True)
                self.run.define_metric(f"{axis}/*", step_metric=f"{axis}/step")
                self._axes.add(axis)
            self.run.log({**data, f"{axis}/step": int(step)})
        except Exception as err:
            self._fail("log", err)

    def log_image(self, key: str, path: Path, step: int | None = None) -> None:
        if self.run is None:
            return
        try:
            data = {key: self._wandb.Image(str(path))}
            if step is None:
                self.run.log(data, commit=False)  # attach to the current step, do not advance it
            else:
                self.run.log(data, step=int(step))
        except Exception as err:
            self._fail("log an image", err)

    def update_config(self, config: dict) -> None:
        if self.run is None:
            return
        try:
            self.run.config.update(config, allow_val_change=True)
        except Exception as err:
            self._fail("update the config", err)

    def log_summary(self, summary: dict) -> None:
        if self.run is None:
            return
        try:
            for k, v in _flatten(summary).items():
                self.run.summary[k] = v
        except Exception as err:
            self._fail("write the summary", err)

    def close(self, exit_code: int = 0) -> None:
        if self.run is not None:
            run, self.run = self.run, None
            try:
                run.finish(exit_code=exit_code)
            except Exception as err:
                self.run = run
                self._fail("finish", err)
        if self._dir is not None:
            record_tree(self._dir)


def _flatten(d: dict, prefix: str = "") -> dict:
    """Nested summary -> ``{"a/b": value}`` of scalars (lists and arrays are left out)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[f"{prefix}{k}"] = _jsonable(v)
    return out


class MultiLogger(Logger):
    """Fan out to several loggers (local first, so a W&B error never costs local rows)."""

    def __init__(self, *loggers: Logger | None):
        self.loggers = [lg for lg in loggers if lg is not None]

    @property
    def rows(self) -> int:
        """Rows the local logger holds (for checkpoints that keep rows by count)."""
        return next((lg.rows for lg in self.loggers if isinstance(lg, LocalLogger)), 0)

    def log_scalars(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        for lg in self.loggers:
            lg.log_scalars(metrics, step, axis=axis)

    def log_image(self, key: str, path: Path, step: int | None = None) -> None:
        for lg in self.loggers:
            lg.log_image(key, path, step)

    def log_summary(self, summary: dict) -> None:
        for lg in self.loggers:
            lg.log_summary(summary)

    def update_config(self, config: dict) -> None:
        for lg in self.loggers:
            lg.update_config(config)

    def close(self, exit_code: int = 0) -> None:
        for lg in self.loggers:
            lg.close(exit_code)


def sync_commands(run_dir: Path) -> list[str]:
    """One ``wandb sync`` command per W&B run under ``run_dir`` (its seeds' and parts' too).

    A resumed run continues the same W&B run id in a new offline folder; ``--id`` with all
    of its folders syncs them into that one run, in order of start time.
    """
    by_id: dict[str, list[Path]] = {}
    for d in sorted(Path(run_dir).rglob("offline-run-*")):
        if d.is_dir() and d.parent.name == "wandb":
            by_id.setdefault(d.name.rsplit("-", 1)[-1], []).append(d)
    out = []
    for run_id, dirs in by_id.items():
        paths = " ".join(str(d) for d in dirs)
        out.append(f"wandb sync --id {run_id} {paths}" if len(dirs) > 1 else f"wandb sync {paths}")
    return out
