"""The figures a researcher looks for first: every agent run logs episode return and length, SB3's own
train/* and rollout/* values reach the logs, and data-parallel ranks agree on what coverage means."""
from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist

from experiments.cli import main
from experiments.io.logger import read_metrics

ARGS = ["env.id=plugin_envs:FaultyEnv", "env.kwargs={bad_from: 100000, limit: 10}", "env.num_envs=2",
        "run.steps=40", "run.seeds=[]", "logging.interval=20", "logging.map_interval=100", "logging.wandb=disabled",
        "--quiet"]


PPO = ["agent.type=ppo", "agent.bonus=none", "agent.sb3_kwargs={n_steps: 8, batch_size: 8}"]


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
