"""Run-folder ownership: which files a run wrote, and one process per folder.

The rule: the tool deletes or overwrites only files it wrote itself, for the
run it is running. So a run folder carries

- ``.freeenergy-run``: the manifest, a header line and then every path
  (relative to the folder) that a run wrote there. ``--overwrite`` deletes
  exactly these and nothing else: a user's data file or figure in the same
  folder stays. A folder with no manifest that holds anything is not a run
  folder and is refused (older run folders, with ``config.yaml`` and
  ``status.json``, count as run folders; ``--overwrite`` then removes only the
  runner's own files).
- ``.freeenergy-lock``: held with an exclusive ``flock`` while a process runs
  (or resumes) into the folder, so a second run into the same folder stops
  with one line instead of interleaving its files with the first.

Temp files are named ``.<name>.tmp<pid>-<n>``; a process that holds the
lock removes strays left by a killed one.
"""
from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.errors import OutputDirError

MANIFEST = ".freeenergy-run"
LOCK = ".freeenergy-lock"
HEADER = "# freeenergy run folder: files below were written by the run and are removed by --overwrite\n"
#: What the runner writes; the only files --overwrite removes in a run folder that has no manifest.
LEGACY_FILES = ("config.yaml", "status.json", "metrics.jsonl", "summary.json", "checkpoint.pt")

_recorded: dict[Path, set[str]] = {}
_held: dict[Path, tuple[int, int]] = {}  # folder -> (fd, depth) of the locks this process holds
_mutex = threading.Lock()
_counter = itertools.count()  # next() on it is atomic under the GIL


def temp_name(path: Path) -> Path:
    """A temp file beside ``path``, unique per process and call (so per thread too)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}-{next(_counter)}")


def has_manifest(run_dir: Path) -> bool:
    return (Path(run_dir) / MANIFEST).is_file()


def is_run_folder(run_dir: Path) -> bool:
    """A folder this tool made: it has a manifest (or, from before manifests, config.yaml + status.json)."""
    d = Path(run_dir)
    return has_manifest(d) or ((d / "config.yaml").is_file() and (d / "status.json").is_file())


def _visible(run_dir: Path) -> list[Path]:
    return [p for p in Path(run_dir).iterdir() if p.name not in (MANIFEST, LOCK)]


def check_writable_target(run_dir: Path) -> None:
    """Refuse an existing folder that holds files and is not a run folder of this tool.

    Raises:
        OutputDirError: ``run_dir`` holds something and no manifest says a run wrote it.
    """
    d = Path(run_dir)
    if d.is_dir() and not is_run_folder(d) and _visible(d):
        raise OutputDirError(f"--out {str(d)!r} is a folder with other files and not a freeenergy run folder; "
                             f"refusing to write into it (pick a new or empty folder)")


def claim(run_dir: Path) -> None:
    """Mark ``run_dir`` as a run folder (manifest header) and record it in an enclosing run's manifest."""
    d = Path(run_dir)
    if not has_manifest(d):
        (d / MANIFEST).write_text(HEADER)
    _recorded.pop(d.resolve(), None)
    record(d)


def _owner(path: Path) -> Path | None:
    """The nearest run folder above ``path`` (not ``path`` itself)."""
    for parent in Path(path).resolve().parents:
        if (parent / MANIFEST).is_file():
            return parent
    return None


def written(run_dir: Path) -> list[str]:
    """The manifest's paths (relative to ``run_dir``)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return []
    return [line.rstrip("\n") for line in path.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("#")]


def record(path: Path) -> None:
    """Note in the enclosing run folder's manifest that the run wrote ``path`` (a file or a folder)."""
    owner = _owner(path)
    if owner is None:
        return
    rel = str(Path(path).resolve().relative_to(owner))
    with _mutex:
        seen = _recorded.setdefault(owner, set(written(owner)))
        if rel in seen:
            return
        seen.add(rel)
        with open(owner / MANIFEST, "a") as fh:
            fh.write(rel + "\n")


def remove_stray_temps(run_dir: Path) -> list[Path]:
    """Temp files a killed process left behind (call only while holding the folder's lock)."""
    gone = []
    for p in Path(run_dir).glob(".*.tmp*"):
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def clean(run_dir: Path) -> None:
    """Delete what earlier runs wrote in ``run_dir`` (per the manifest) and nothing else."""
    d = Path(run_dir)
    names = written(d) if has_manifest(d) else [*LEGACY_FILES, "wandb"]
    for rel in names:
        p = d / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue  # a tampered manifest must not point outside the folder
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
        elif p.is_dir() and has_manifest(p):
            clean(p)
            (p / MANIFEST).unlink(missing_ok=True)
            _rmdir_if_empty(p)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)  # a folder the run made as a whole (wandb/)
    for rel in sorted(names, key=len, reverse=True):  # sub-folders such as maps/ left empty
        p = d / rel
        if p.parent != d and p.parent.is_dir() and p.parent.resolve() != d.resolve():
            _rmdir_if_empty(p.parent)
    remove_stray_temps(d)
    if has_manifest(d):
        (d / MANIFEST).write_text(HEADER)
    _recorded.pop(d.resolve(), None)


def _rmdir_if_empty(p: Path) -> None:
    try:
        p.rmdir()
    except OSError:
        pass


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock for the block (re-entrant within this process).

    Raises:
        OutputDirError: another process holds it.
    """
    key = Path(run_dir).resolve()
    with _mutex:
        held = _held.get(key)
        if held is not None:
            _held[key] = (held[0], held[1] + 1)
            fd = None
        else:
            fd = _acquire(key)
            _held[key] = (fd, 1)
    try:
        yield
    finally:
        with _mutex:
            fd0, depth = _held[key]
            if depth > 1:
                _held[key] = (fd0, depth - 1)
            else:
                del _held[key]
                os.close(fd0)  # closing the descriptor releases the flock


def _acquire(key: Path) -> int:
    fd = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one run per folder is then the user's care
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise OutputDirError(f"run folder {str(key)!r} is in use by another freeenergy process"
                             f"{f' (pid {other})' if other else ''}; wait for it to finish or pick another "
                             f"--out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def held_by_someone(run_dir: Path) -> bool:
    """Whether a live process (this one or another) holds the folder's lock."""
    key = Path(run_dir).resolve()
    if key in _held:
        return True
    if not (key / LOCK).exists():
        return False
    try:
        fd = _acquire(key)
    except OutputDirError:
        return True
    os.close(fd)
    return False
