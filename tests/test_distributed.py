"""Data-parallel runs under torchrun (gloo, 2 CPU processes): same world model as one process; resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
# The deterministic configuration (see experiments/scale/distributed.py): a noise-free loss and
# random actions throughout; 4 copies and batches of 32 split evenly over 2 processes.
DETERMINISTIC = ["logging.wandb=disabled", "run.seeds=[]", "world_model.name=ae", "agent.type=fe",
                 "agent.warmup_steps=100000", "env.num_envs=4", "world_model.batch_size=32", "run.threads=1"]


def _torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "experiments", *args, "--quiet"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, **kw)


def _kill_tree(pid: int) -> None:
    """SIGKILL the launcher and every process under it (torchrun starts its ranks in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _members(ckpt_path: Path) -> list[dict]:
    state = torch.load(ckpt_path, map_location="cpu", weights_only=True)["state"]
    if "ranks" in state:
        return [r["state"]["agent"]["world"]["members"][0] for r in state["ranks"]]
    return [state["agent"]["world"]["members"][0]]


@pytest.mark.timeout(240)
def test_two_processes_reach_the_single_process_world_model(tmp_path):
    over = [*DETERMINISTIC, "run.steps=30", "run.checkpoint_every=0"]
    proc = _torchrun(["run", "maze-afe", "--debug", *over, "--out", str(tmp_path / "dp")])
    out = proc.communicate(timeout=200)[0].decode()
    assert proc.returncode == 0, out[-3000:]
    assert main(["run", "maze-afe", "--debug", *over, "--out", str(tmp_path / "one"), "--quiet"]) == 0
    ranks, (single,) = _members(tmp_path / "dp" / "checkpoint.pt"), _members(tmp_path / "one" / "checkpoint.pt")
    assert len(ranks) == 2
    for key, value in single.items():
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-5, atol=1e-6)
        assert torch.equal(ranks[0][key], ranks[1][key])  # DDP keeps the replicas identical
    dp, one = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("dp", "one"))
    assert dp["world_size"] == 2 and dp["env_steps"] == one["env_steps"] == 120
    for key in ("coverage", "unique_cells", "mean_env_coverage"):
        assert dp[key] == one[key]  # all-reduced counts: the maps see every copy
    assert dp["final_free_energy"] == pytest.approx(one["final_free_energy"], rel=1e-4)
    np.testing.assert_array_equal(np.load(tmp_path / "dp" / "visits.npy"), np.load(tmp_path / "one" / "visits.npy"))
    assert not (tmp_path / "dp" / "rank1").exists() and len(list((tmp_path / "dp").glob("*.png"))) >= 2


@pytest.mark.timeout(300)
def test_data_parallel_run_resumes_after_kill_with_the_same_world_size(tmp_path, capsys):
    run_dir = tmp_path / "dp"
    proc = _torchrun(["run", "maze-afe", "--debug", *DETERMINISTIC, "run.steps=400", "run.checkpoint_every=5",
                      "--out", str(run_dir)])
    deadline = time.time() + 150
    while not (run_dir / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    _kill_tree(proc.pid)  # the launcher and both ranks, no chance to clean up
    proc.wait()
    time.sleep(0.5)
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "summary.json").exists()
    step = torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"]

    assert main(["resume", str(run_dir), "--quiet"]) == 2  # one process cannot take two ranks' state
    assert "torchrun --nproc_per_node 2" in capsys.readouterr().err

    with open(run_dir / "config.yaml") as fh:  # shorten the rest of the run: only steps change
        text = fh.read().replace("steps: 400", f"steps: {step + 10}")
    (run_dir / "config.yaml").write_text(text)
    proc = _torchrun(["resume", str(run_dir)])
    out = proc.communicate(timeout=200)[0].decode()
    assert proc.returncode == 0, out[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["env_steps"] == (step + 10) * 4
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == step + 10
