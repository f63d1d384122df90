"""`--nproc-per-node K`: a data-parallel run's input is checked once, before any worker starts."""
from __future__ import annotations

import json

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
    (["agent.horizon=0"], "agent.horizon"),
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


def test_a_data_parallel_run_through_the_launcher(tmp_path, capsys):
    code = main(["run", *GOOD, "world_model.name=ae", "--nproc-per-node", "2", "--out", str(tmp_path / "r"),
                 "--quiet"])
    assert code == 0, capsys.readouterr()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["env_steps"] == 24
    code = main(["resume", str(tmp_path / "r"), "--nproc-per-node", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "already completed" in err
