"""Run-folder ownership: which files a run wrote, and one process per folder.

The rule: the tool deletes or overwrites only regular files it wrote itself,
listed by exact name in the folder's manifest, inside the folder once links are
resolved; it never follows a symbolic link to write, truncate or delete. So a
run folder carries

- ``.freeenergy-run``: the manifest, a header line and then every path
  (relative to the folder) that a run wrote there, files and the folders made
  for them (W&B's files one by one). ``--overwrite`` deletes exactly the listed
  files, then the listed folders that are left empty, and nothing else: a
  user's data file or figure in the same folder (or inside ``wandb/``) stays.
  A folder with no manifest that holds anything is not a run folder and is
  refused, even one that holds ``config.yaml`` and ``status.json``.
- ``.freeenergy-lock``: held with an exclusive ``flock`` while a process runs
  (or resumes) into the folder, so a second run into the same folder stops
  with one line instead of interleaving its files with the first.

A manifest, lock or run file that is a symbolic link (or a lock with a second
hard link) is refused, never written through. Temp files are named
``.freeenergy-tmp-<pid>-<n>-<name>``; a process that holds the lock removes
strays of exactly that form left by a killed one, and nothing else.
"""
from __future__ import annotations

import itertools
import os
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.errors import OutputDirError

MANIFEST = ".freeenergy-run"
LOCK = ".freeenergy-lock"
HEADER = "# freeenergy run folder: files below were written by the run and are removed by --overwrite\n"
TEMP_PREFIX = ".freeenergy-tmp-"
_TEMP = re.compile(r"^\.freeenergy-tmp-\d+-\d+-.+$")
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_recorded: dict[Path, set[str]] = {}
_held: dict[Path, tuple[int, int]] = {}  # folder -> (fd, depth) of the locks this process holds
_mutex = threading.Lock()
_counter = itertools.count()  # next() on it is atomic under the GIL


def temp_name(path: Path) -> Path:
    """A temp file beside ``path``, unique per process and call (so per thread too)."""
    path = Path(path)
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{next(_counter)}-{path.name}")


def refuse_symlink(path: Path) -> None:
    """A run's own files are plain files: a symlink there could point at anything of the user's.

    Raises:
        OutputDirError: ``path`` is a symbolic link.
    """
    if Path(path).is_symlink():
        raise OutputDirError(f"{str(path)!r} is a symbolic link; a run writes only its own plain files "
                             f"(remove the link or pick another --out)")


def write_new(path: Path, data: bytes, sync: bool = False) -> None:
    """Create ``path`` (it must not exist, and no link is followed) and write ``data`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())


def has_manifest(run_dir: Path) -> bool:
    """The folder holds a manifest that is a plain file (a link there is not ours)."""
    path = Path(run_dir) / MANIFEST
    return path.is_file() and not path.is_symlink()


def is_run_folder(run_dir: Path) -> bool:
    """A folder this tool made: its manifest says so (``config.yaml`` + ``status.json`` alone do not)."""
    return has_manifest(run_dir)


def _visible(run_dir: Path) -> list[Path]:
    return [p for p in Path(run_dir).iterdir() if p.name not in (MANIFEST, LOCK)]


def check_writable_target(run_dir: Path) -> None:
    """Refuse an existing folder that holds files and is not a run folder of this tool.

    Raises:
        OutputDirError: ``run_dir`` holds something and no manifest says a run wrote it, or
            its manifest or lock is a symbolic link.
    """
    d = Path(run_dir)
    if not d.is_dir():
        return
    for name in (MANIFEST, LOCK):
        refuse_symlink(d / name)
    if not is_run_folder(d) and _visible(d):
        raise OutputDirError(f"--out {str(d)!r} is a folder with other files and not a freeenergy run folder; "
                             f"refusing to write into it (pick a new or empty folder)")


def claim(run_dir: Path) -> None:
    """Mark ``run_dir`` as a run folder (manifest header) and record it in an enclosing run's manifest."""
    d = Path(run_dir)
    refuse_symlink(d / MANIFEST)
    if not has_manifest(d):
        try:
            write_new(d / MANIFEST, HEADER.encode())
        except FileExistsError:  # something that is not a plain file took the name
            raise OutputDirError(f"{str(d / MANIFEST)!r} exists and is not a plain file; "
                                 f"pick another --out") from None
    _recorded.pop(d.resolve(), None)
    record(d)


def _owner(path: Path) -> Path | None:
    """The nearest run folder above ``path`` (not ``path`` itself)."""
    for parent in _parents(path):
        if has_manifest(parent):
            return parent
    return None


def _parents(path: Path) -> list[Path]:
    """The folders above ``path``, nearest first (its own folder resolved, the name itself not)."""
    here = Path(path).absolute().parent.resolve()
    return [here, *here.parents]


def written(run_dir: Path) -> list[str]:
    """The manifest's paths (relative to ``run_dir``)."""
    if not has_manifest(run_dir):
        return []
    fd = os.open(Path(run_dir) / MANIFEST, os.O_RDONLY | NOFOLLOW)
    with os.fdopen(fd, errors="replace") as fh:
        text = fh.read()
    return [line.rstrip("\n") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def record(path: Path) -> None:
    """Note in the enclosing run folder's manifest that the run wrote ``path`` (a file or a folder)."""
    owner = _owner(path)
    if owner is None:
        return
    rel = str((Path(path).absolute().parent.resolve() / Path(path).name).relative_to(owner))
    with _mutex:
        seen = _recorded.setdefault(owner, set(written(owner)))
        if rel in seen:
            return
        seen.add(rel)
        fd = os.open(owner / MANIFEST, os.O_WRONLY | os.O_APPEND | NOFOLLOW)
        with os.fdopen(fd, "a") as fh:
            fh.write(rel + "\n")


def record_tree(folder: Path) -> None:
    """Record ``folder`` and everything under it (links as links, never followed): a folder a
    library wrote for the run (W&B's ``wandb/``), so that ``--overwrite`` can remove it file by file."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return
    record(folder)
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            record(Path(top) / name)


def remove_stray_temps(run_dir: Path) -> list[Path]:
    """Temp files a killed process left behind (call only while holding the folder's lock).

    Only names of this tool's exact temp form are touched; a link is removed, never followed.
    """
    gone = []
    d = Path(run_dir)
    if not d.is_dir():
        return gone
    for p in d.iterdir():
        if _TEMP.match(p.name) and (p.is_symlink() or p.is_file()):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


def _own_path(root: Path, rel: str) -> Path | None:
    """``root / rel`` when ``rel`` names a place inside ``root`` reached through no link; else None."""
    parts = rel.replace(os.sep, "/").split("/")
    if Path(rel).is_absolute() or any(p in ("", ".", "..") for p in parts) or rel != rel.strip():
        return None
    if len(parts) == 1 and parts[0] in (MANIFEST, LOCK):
        return None
    cur = root
    for part in parts[:-1]:
        cur = cur / part
        if cur.is_symlink() or not cur.is_dir():
            return None
    return cur / parts[-1]


def clean(run_dir: Path) -> None:
    """Delete what earlier runs wrote in ``run_dir`` (the manifest's files) and nothing else.

    A folder with no manifest is not ours: nothing in it is touched.
    """
    d = Path(run_dir)
    if not has_manifest(d):
        return
    root = d.resolve()
    names = written(d)
    folders = []
    for rel in names:
        p = _own_path(root, rel)
        if p is None:
            continue  # a tampered manifest must not reach outside the folder
        if p.is_symlink():
            continue  # only regular files go: a link (W&B's latest-run, or one of the user's) stays
        if p.is_file():
            p.unlink(missing_ok=True)
        elif p.is_dir() and has_manifest(p):
            clean(p)  # a sub-run (a seed, a quickstart part): its own manifest says what is its
            (p / MANIFEST).unlink(missing_ok=True)
            folders.append(p)
        elif p.is_dir():
            folders.append(p)
    for p in sorted(folders, key=lambda q: len(q.parts), reverse=True):
        _rmdir_if_empty(p)  # a folder the run made goes only once nothing of anyone else's is in it
    remove_stray_temps(d)
    fd = os.open(d / MANIFEST, os.O_WRONLY | os.O_TRUNC | NOFOLLOW)
    with os.fdopen(fd, "w") as fh:
        fh.write(HEADER)
    _recorded.pop(root, None)


def _rmdir_if_empty(p: Path) -> None:
    if (p / LOCK).is_file() and not (p / LOCK).is_symlink() and not any(
            q.name != LOCK for q in p.iterdir()):
        (p / LOCK).unlink(missing_ok=True)
    try:
        p.rmdir()
    except OSError:
        pass


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock for the block (re-entrant within this process).

    Raises:
        OutputDirError: another process holds it, or the lock file is a link.
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


def _open_lock(key: Path) -> int:
    """The lock file's descriptor: a plain file with one link, never a link followed."""
    path = key / LOCK
    refuse_symlink(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW, 0o644)
    except OSError as err:
        raise OutputDirError(f"cannot open the lock file {str(path)!r}: {err.strerror or err}; "
                             f"pick another --out") from err
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        raise OutputDirError(f"{str(path)!r} is not a plain file of its own (a link to another file?); "
                             f"remove it or pick another --out")
    return fd


def _acquire(key: Path) -> int:
    fd = _open_lock(key)
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one run per folder is then the user's care
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise OutputDirError(f"folder {str(key)!r} is in use by another freeenergy process"
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
