"""Where a run goes: its name (``env__experiment__seed__time``) and its folder.

The folder is ``--out`` exactly, or a new one under ``run.out_root``; it is made writable,
checked to be a run folder of this tool, and claimed under its lock (:mod:`run_folder`).
"""
from __future__ import annotations

import time
from pathlib import Path

from experiments import kinds
from experiments.config import Config
from experiments.errors import OutputDirError
from experiments.io import run_folder


def _short_env(cfg: Config) -> str:
    source = kinds.run_kind(cfg.run.kind).folder
    if source == "data":
        return cfg.data.name
    if source == "kind":
        return cfg.run.kind
    return cfg.env.id.split("/")[-1].split(":")[-1].replace(" ", "")


def run_name(cfg: Config, seed: int) -> str:
    """``env__experiment__seed__time``."""
    return f"{_short_env(cfg)[:60]}__{cfg.run.name or cfg.run.kind}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def target_dir(cfg: Config, out: str | Path | None, seed: int) -> Path:
    """The run folder a run goes to: ``out`` exactly, or a new one under ``run.out_root``.

    Raises:
        OutputDirError: ``out`` is empty, or an existing folder that is not a run folder of this tool.
    """
    if out is not None:
        if not str(out).strip():
            raise OutputDirError("--out '' is empty; pass the folder to write the run into (e.g. --out runs/mine)")
        run_dir = Path(out)
        run_folder.check_writable_target(run_dir)
        return run_dir
    base = Path(cfg.run.out_root) / run_name(cfg, seed)
    run_dir, n = base, 1
    while run_dir.exists():  # two runs started in the same second
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    return run_dir


def make_dir(run_dir: Path) -> None:
    """Create ``run_dir`` and check that it is writable (one clear line if not)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_folder.temp_name(run_dir / "write-test")
        run_folder.write_new(probe, b"ok")
        probe.unlink()
    except OSError as err:
        raise OutputDirError(f"output directory {str(run_dir)!r} is not writable ({err.strerror or err}); "
                             f"pass --out to a writable folder or set run.out_root=DIR") from err


def prepare_run_dir(cfg: Config, out: str | Path | None, seed: int, overwrite: bool = False) -> Path:
    """Create (and check writable) the run folder and mark it as this tool's (see :mod:`run_folder`).

    With ``overwrite``, the files earlier runs wrote there are removed first, and only those.

    Raises:
        OutputDirError: not writable, not a run folder of this tool, in use by another
            process, or ``out`` already holds a run and ``overwrite`` is off.
    """
    run_dir = target_dir(cfg, out, seed)
    make_dir(run_dir)
    with run_folder.locked(run_dir):
        if (run_dir / "config.yaml").exists() and not overwrite:
            raise OutputDirError(f"--out {str(run_dir)!r} already holds a run (config.yaml); continue it with "
                                 f"`freeenergy resume {run_dir}`, pass --overwrite, or pick another folder")
        if run_folder.is_run_folder(run_dir):
            run_folder.clean(run_dir)
        run_folder.remove_stray_temps(run_dir)
        run_folder.claim(run_dir)
    return run_dir
