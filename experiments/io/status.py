"""The small files of a run folder that say what it is: ``config.yaml`` and ``status.json``,
and the atomic JSON writer every summary goes through."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from experiments.config import Config, to_dict
from experiments.context import atomic_write_bytes
from experiments.io.run_folder import NOFOLLOW, remove_stray_temps


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


def write_status_anyhow(run_dir: Path, status: str, **extra: Any) -> None:
    """:func:`write_status`, and where that fails (a full disk has no room for the temp copy) the same
    record written over ``status.json`` in place; if even that fails, nothing (the CLI still says why)."""
    try:
        write_status(run_dir, status, **extra)
        return
    except OSError:
        pass
    data = {**read_status(run_dir), "status": status, **extra}
    try:
        fd = os.open(Path(run_dir) / "status.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(_clean(data), indent=2, default=_json_default) + "\n")
    except OSError:
        pass


def checkpoint_note(run_dir: Path) -> str | None:
    path = Path(run_dir) / "checkpoint.pt"
    return str(path) if path.exists() else None


def note_killed(run_dir: Path) -> None:
    """A status of ``running`` whose process is gone (we hold the lock now) becomes ``killed``:
    the process ended without a word (kill -9, power loss), so status.json tells the truth again."""
    remove_stray_temps(run_dir)  # we hold the lock: no live writer owns them
    status = read_status(run_dir)
    if status.get("status") == "running":
        write_status(run_dir, "killed", error="the process ended without recording why (killed, e.g. kill -9 "
                                              "or out of memory)", checkpoint=checkpoint_note(run_dir))
