"""Sweeps: one sweep per folder (a lock), a debug sweep's table says it is debug-sized, and a killed
sweep leaves no helper processes behind (the reaper)."""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from experiments.cli import main
from experiments.io import run_folder
from experiments.scale.sweep_spec import expand, parse_sweep
from experiments.scale.sweep_table import DEBUG_CAVEAT, write_table

ROOT = Path(__file__).resolve().parents[1]
SPEC = {"method": "grid", "metric": {"name": "coverage", "goal": "maximize"},
        "parameters": {"preset": {"value": "maze-afe"}, "agent.type": {"values": ["afe", "random"]},
                       "run.seed": {"values": [0, 1]}}}


def test_a_second_sweep_into_a_folder_in_use_is_refused(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    folder = tmp_path / "s"
    folder.mkdir()
    fd = os.open(folder / run_folder.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the first sweep, still running
    try:
        assert main(["sweep", str(path), "--out", str(folder), "--debug"]) == 2
    finally:
        os.close(fd)
    err = capsys.readouterr().err.strip()
    assert "in use by another freeenergy process" in err and len(err.splitlines()) == 1
    assert not (folder / "trials").exists() and not (folder / "sweep.yaml").exists()


@pytest.mark.parametrize("debug", [True, False])
def test_a_debug_sweeps_table_says_debug_sizes(tmp_path, debug):
    spec = parse_sweep(SPEC)
    trials = expand(spec)
    outcomes = {t.tid: {"status": "complete", "summary": {"coverage": 0.5 + 0.1 * i}} for i, t in enumerate(trials)}
    paths = write_table(tmp_path, spec, trials, outcomes, ["coverage"], debug=debug)
    assert (DEBUG_CAVEAT in paths["markdown"].read_text()) == debug
    assert ("debug_sizes" in paths["json"].read_text()) == debug


SCRIPT = """
import subprocess, sys, time
from experiments.scale.reaper import guard
keep = guard()
# A helper that leaves its parent's tree the way Ray's agents do when the raylet dies.
child = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); time.sleep(300)"],
    stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), child.pid, flush=True)
time.sleep(300)
"""


def test_a_killed_command_leaves_no_helper_processes(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    grandchild, child = (int(v) for v in proc.stdout.readline().split())
    time.sleep(2.5)  # the watchdog notes the tree every couple of seconds
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)  # the helper's parent dies too; its own child is now an orphan
    proc.wait(timeout=10)
    deadline = time.time() + 10
    while time.time() < deadline and Path(f"/proc/{grandchild}").exists() and _alive(grandchild):
        time.sleep(0.2)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
