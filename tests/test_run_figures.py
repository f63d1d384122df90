"""The figures a researcher looks for first: every agent run logs episode return and length, SB3's own
train/* and rollout/* values reach the logs, and data-parallel ranks agree on what coverage means."""
from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.distributed as dist

from experiments.cli import main
from experiments.io.logger import read_metrics

ARGS = ["env.id=plugin_envs:FaultyEnv", "env.kwargs={bad_from: 100000, limit: 10}", "env.num_envs=2",
        "run.steps=40", "run.seeds=[]", "logging.interval=20", "logging.map_interval=100", "logging.wandb=disabled",
        "--quiet"]


PPO = ["agent.type=ppo", "agent.intrinsic.name=none", "agent.sb3_kwargs={n_steps: 8, batch_size: 8}"]


@pytest.mark.parametrize("agent", [["agent.type=random"], ["agent.type=afe"], PPO], ids=["random", "afe", "ppo"])
def test_every_agent_logs_episode_return_and_length(tmp_path, capsys, agent):
    code = main(["run", "maze-afe", "--debug", *agent, *ARGS, "--out", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    rows = [r for r in read_metrics(tmp_path / "r" / "metrics.jsonl") if "rollout/ep_len_mean" in r]
    assert [r["step"] for r in rows] == [20, 40]
    assert all(r["rollout/ep_len_mean"] == 10 and r["rollout/ep_rew_mean"] == 10 for r in rows)
    if agent[0] == "agent.type=ppo":  # SB3's own figures pass through
        keys = {k for r in read_metrics(tmp_path / "r" / "metrics.jsonl") for k in r}
        assert {"train/entropy_loss", "train/value_loss", "train/approx_kl"} <= keys, sorted(keys)


def test_data_parallel_coverage_means_what_one_process_means(tmp_path):
    from experiments.build import make_env
    from experiments.config.presets import resolve
    from experiments.scale.data_parallel import DistTracker
    from experiments.scale.distributed import Dist
    from experiments.tracker import Tracker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        cfg = resolve("maze-afe", ["env.num_envs=2"], debug=True)
        env = make_env(cfg, torch.device("cpu"))
        env.reset(seed=0)
        one, many = Tracker(env, 10), DistTracker(env, 10, Dist(rank=0, world=1, local_rank=0))
        for tracker in (one, many):
            tracker.start(env.last_info)
        assert many.summary()["coverage_of"] == one.summary()["coverage_of"] == "reachable cells"
    finally:
        dist.destroy_process_group()


def test_percentages_never_round_a_part_to_the_whole():
    from experiments.io.maps import percent

    assert percent(0.9956) == "99.6%" and percent(0.9996) == "99.9%" and percent(1.0) == "100.0%"
    assert percent(0.0001) == "<0.1%" and percent(0.0) == "0.0%"


def test_maps_say_per_copy_and_env_steps_and_show_unvisited(tmp_path, capsys, monkeypatch):
    import numpy as np

    from experiments.io import maps

    figs = []
    real = maps.plot_exploration_map
    monkeypatch.setattr(maps, "plot_exploration_map", lambda *a, **kw: figs.append(real(*a, **kw)) or figs[-1])
    assert main(["run", "maze-random", "--debug", "env.num_envs=2", "run.steps=20", "logging.map_interval=10",
                 "logging.wandb=disabled", "--quiet", "--out", str(tmp_path / "r")]) == 0
    ax = figs[0].axes[0]
    assert "step 10 per copy (20 env steps)" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["unvisited", "wall"]
    assert np.ma.is_masked(ax.images[0].get_array())  # unvisited cells are white on either scale
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["steps_per_copy"] == 20 and s["env_steps"] == 40
