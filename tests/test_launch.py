"""`--nproc-per-node K`: a data-parallel run's input is checked once, before any worker starts."""
from __future__ import annotations

import pytest

from experiments.cli import main
from experiments.scale import launch

GOOD = ["maze-afe", "--debug", "logging.wandb=disabled", "run.seeds=[]", "env.num_envs=4",
        "world_model.batch_size=32", "run.steps=6", "run.threads=1"]


@pytest.mark.parametrize("overrides, key", [
    (["run.kind=umbrella"], "run.kind"),
    (["agent.type=ppo"], "agent.type"),
    (["run.seeds=[0,1]"], "run.seeds"),
    (["env.num_envs=3"], "env.num_envs"),
    (["world_model.batch_size=33"], "world_model.batch_size"),
    (["agent.action_repeat=2"], "agent.action_repeat"),
    (["agent.planner.horizon=0"], "agent.planner.horizon"),
])
def test_bad_data_parallel_input_is_one_line_before_any_worker(tmp_path, capsys, monkeypatch, overrides, key):
    monkeypatch.setattr(launch, "torchrun", lambda *a: pytest.fail("a worker was started"))
    code = main(["run", *GOOD, *overrides, "--nproc-per-node", "2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("freeenergy: error:") and key in err, err
    assert not (tmp_path / "r").exists()


def test_good_input_starts_torchrun_with_the_same_arguments(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(launch, "torchrun", lambda n, argv: seen.update(n=n, argv=argv) or 0)
    assert main(["run", *GOOD, "--nproc-per-node", "2", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert seen["n"] == 2 and seen["argv"][:2] == ["run", "maze-afe"] and "--nproc-per-node" not in seen["argv"]
    assert seen["argv"][-4:] == ["--out", str(tmp_path / "r"), "--debug", "--quiet"]


def test_the_launcher_runs_torchrun_with_the_workers_command_line(monkeypatch):
    import subprocess

    seen = {}
    monkeypatch.setattr(subprocess, "call", lambda cmd, env: seen.update(cmd=cmd, env=env) or 0)
    assert launch.torchrun(2, ["run", "maze-afe", "--quiet"]) == 0
    cmd = seen["cmd"]
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    assert cmd[5:] == ["-m", "experiments", "run", "maze-afe", "--quiet"]


def test_resume_checks_the_process_count_before_any_worker(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launch, "torchrun", lambda *a: pytest.fail("a worker was started"))
    assert main(["run", *GOOD, "--out", str(tmp_path / "r"), "--quiet"]) == 0
    (tmp_path / "r" / "summary.json").unlink()
    code = main(["resume", str(tmp_path / "r"), "--nproc-per-node", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "single-process checkpoint" in err and len(err.strip().splitlines()) == 1
