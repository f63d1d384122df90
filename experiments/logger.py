"""One logger interface; backends: local files and Weights & Biases.

Local files are the record that is never lost: ``metrics.jsonl`` (one JSON
object per line, appended and flushed) beside the run's PNGs. W&B is a mirror:
if it fails to start or to log, the run warns once and goes on locally.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any


class Logger:
    """Interface: scalars, images, summary, close."""

    def log_scalars(self, metrics: dict[str, float], step: int) -> None: ...

    def log_image(self, key: str, path: Path, step: int | None = None) -> None: ...

    def log_summary(self, summary: dict) -> None: ...

    def close(self, exit_code: int = 0) -> None: ...


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else (1e308 if v > 0 else -1e308)
    return v


class LocalLogger(Logger):
    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / "metrics.jsonl"
        self._fh = open(self.path, "a", buffering=1)

    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def close(self, exit_code: int = 0) -> None:
        if not self._fh.closed:
            self._fh.close()


class WandbLogger(Logger):
    """Mirror to W&B; any failure disables it with one warning."""

    def __init__(self, out_dir: Path, config: dict, logging_cfg: Any, name: str, tags: list[str]):
        self.run = None
        try:
            import wandb

            self._wandb = wandb
            self.run = wandb.init(
                project=logging_cfg.project, entity=logging_cfg.entity or None,
                group=logging_cfg.group or None, tags=tags, name=name, config=config,
                mode=logging_cfg.wandb, dir=str(out_dir), reinit="finish_previous",
                settings=wandb.Settings(console="off", silent=True),
            )
        except Exception as err:  # no network, no account, a broken install: keep going locally
            self._fail("start", err)

    def _fail(self, what: str, err: Exception) -> None:
        warnings.warn(f"W&B failed to {what} ({type(err).__name__}: {err}); logging locally only", stacklevel=3)
        self.run = None

    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log({k: _jsonable(v) for k, v in metrics.items()}, step=int(step))
        except Exception as err:
            self._fail("log", err)

    def log_image(self, key: str, path: Path, step: int | None = None) -> None:
        if self.run is None:
            return
        try:
            data = {key: self._wandb.Image(str(path))}
            self.run.log(data, step=int(step)) if step is not None else self.run.log(data)
        except Exception as err:
            self._fail("log an image", err)

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
            try:
                self.run.finish(exit_code=exit_code)
            except Exception as err:
                self._fail("finish", err)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[f"{prefix}{k}"] = _jsonable(v)
    return out


class MultiLogger(Logger):
    def __init__(self, *loggers: Logger):
        self.loggers = [lg for lg in loggers if lg is not None]

    def log_scalars(self, metrics: dict[str, float], step: int) -> None:
        for lg in self.loggers:
            lg.log_scalars(metrics, step)

    def log_image(self, key: str, path: Path, step: int | None = None) -> None:
        for lg in self.loggers:
            lg.log_image(key, path, step)

    def log_summary(self, summary: dict) -> None:
        for lg in self.loggers:
            lg.log_summary(summary)

    def close(self, exit_code: int = 0) -> None:
        for lg in self.loggers:
            lg.close(exit_code)
