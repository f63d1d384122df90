"""An env that returns NaN or values far outside its space stops the run naming the env (exit 1),
whatever the agent: the learning rate is not blamed, and no result is written."""
from __future__ import annotations

import pytest
import torch

from experiments.cli import main
from experiments.env_watch import EnvWatch

ARGS = ["env.num_envs=2", "run.steps=30", "run.seeds=[]", "logging.interval=10", "logging.map_interval=100",
        "logging.wandb=disabled", "--quiet"]


@pytest.mark.parametrize("agent, kwargs, words", [
    (["agent.type=random"], "{what: obs}", "non-finite observations"),
    (["agent.type=afe"], "{what: obs}", "non-finite observations"),
    (["agent.type=random"], "{what: obs, bad: 1.0e6}", "far outside the declared observation space [-1, 1]"),
    (["agent.type=ppo", "agent.intrinsic.name=none", "agent.sb3_kwargs={n_steps: 8, batch_size: 8}"], "{what: reward}",
     "non-finite rewards"),
], ids=["nan-obs-random", "nan-obs-afe", "huge-obs", "nan-reward-ppo"])
def test_bad_env_values_stop_the_run_naming_the_env(tmp_path, capsys, agent, kwargs, words):
    code = main(["run", "maze-afe", "--debug", "env.id=plugin_envs:FaultyEnv", f"env.kwargs={kwargs}", *agent,
                 *ARGS, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1, err
    first = err.strip().splitlines()[0]
    assert first.startswith("freeenergy: run stopped:") and "plugin_envs:FaultyEnv" in first, err
    assert words in first and "step 5" in first and "lower" not in first and "lr" not in first, err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_the_watch_costs_no_host_sync_per_step():
    class Env:
        num_envs, obs_dim, device = 3, 2, torch.device("cpu")

        import gymnasium as _gym
        single_observation_space = _gym.spaces.Box(-1.0, 1.0, (2,))

    watch = EnvWatch(Env(), "env.id='x'")
    for t in range(5):
        watch.see(t, torch.zeros(3, 2), torch.zeros(3))
    assert watch.fault() is None
    watch.see(5, torch.tensor([[0.0, 0.0], [0.0, 5.0], [0.0, 0.0]]), torch.zeros(3))  # within 10 widths
    watch.see(6, torch.tensor([[0.0, 0.0], [0.0, 50.0], [0.0, 0.0]]), torch.zeros(3))
    watch.see(7, torch.zeros(3, 2), torch.tensor([0.0, float("inf"), 0.0]))
    assert "far outside" in watch.fault() and "step 7" in watch.fault()
    assert watch.first.tolist() == [-1, 6, 7]


def test_a_huge_data_value_is_blamed_on_the_data(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x,y\n" + "".join(f"{i * 0.1},{i * 0.2}\n" for i in range(20)) + "1e200,0.5\n")
    code = main(["run", "generative-custom", "--debug", f"data.path={data}", "logging.wandb=disabled", "--quiet",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("freeenergy: error: data.path="), err
    assert "1e+200" in err and "row 20" in err and "the data is at fault" in err and "lr" not in err
