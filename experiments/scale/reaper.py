"""A watchdog that ends a command's child processes when the command ends, however it ends.

``freeenergy sweep`` starts a local Ray whose helpers (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``, idle workers) are children of Ray's raylet; if the
sweep is killed with SIGKILL nothing in it runs, and those helpers would stay
behind. :func:`guard` starts one small process (this module run as a script)
that holds the read end of a pipe whose write end only the command holds. It
notes every descendant of the command (pid and start time, from ``/proc``)
every couple of seconds; when the pipe reaches end-of-file (the command exited,
cleanly or killed) it kills those that are still alive, with the same start time
(so a reused pid is never hit). On a system without ``/proc`` it does nothing.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

POLL_SECONDS = 2.0


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid`` from ``/proc/<pid>/stat``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the name in parentheses may hold spaces
    return int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (children, theirs, ...): pid -> start time."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _stat(int(entry))
            if info is not None:
                children.setdefault(info[0], []).append(int(entry))
                starts[int(entry)] = info[1]
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in out and pid in starts:
            out[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return out


def watch(root: int, pipe: int) -> None:
    """Note ``root``'s descendants until ``pipe`` closes; then kill the ones still alive."""
    known: dict[int, str] = {}
    me = os.getpid()
    while True:
        known.update(descendants(root))
        ready, _, _ = select.select([pipe], [], [], POLL_SECONDS)
        if ready and not os.read(pipe, 4096):
            break
    for pid, start in known.items():
        info = _stat(pid)
        if pid != me and info is not None and info[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def guard() -> subprocess.Popen | None:
    """Start the watchdog for this process (None where there is no ``/proc``).

    Keep the returned object alive; the watchdog acts when this process ends.
    """
    if not Path("/proc/self/stat").exists():
        return None
    read, write = os.pipe()  # the write end is not inherited: children cannot keep it open
    try:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.scale.reaper", str(os.getpid())], stdin=read,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                cwd=str(Path(__file__).resolve().parents[2]))
    finally:
        os.close(read)
    proc._freeenergy_pipe = write  # type: ignore[attr-defined]  # closed only when this process ends
    return proc


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.stdin.fileno())
