"""The run driver: any Agent-contract agent runs on it, envs declare their own metrics, and
experiments know no particular world."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from agents.protocol import Agent, Step
from envs.darkroom import DarkRoomTwin
from experiments.config import ConfigError
from experiments.config.presets import resolve
from experiments.context import RunContext, load_checkpoint_file
from experiments.driver import run_agent
from experiments.io.logger import LocalLogger
from experiments.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
STEPS = 8


class MetricRoom(DarkRoomTwin):
    """A DarkRoom that also reports a constant metric, a late one, success and a run-level figure."""

    late_metrics = ("dark_fraction", "late_one")

    def _extra_info(self) -> dict:
        info = super()._extra_info()
        ones = torch.ones(self.num_envs, device=self.device)
        info["metrics"] = {**info["metrics"], "one": ones, "late_one": ones}
        # Copy 0 succeeds at every step, the others never (whatever terminates).
        info["is_success"] = torch.arange(self.num_envs, device=self.device) == 0
        return info

    def summary_metrics(self) -> dict[str, float]:
        return {"room_size": float(self.size)}


class ToyAgent(Agent):
    """The Agent contract and nothing else: random actions, a namespaced and a bare metric."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.gen = torch.Generator().manual_seed(0)
        self.n, self.steps, self.fail_at = n, 0, fail_at

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        if self.fail_at is not None and self.steps == self.fail_at:
            raise KeyboardInterrupt
        return torch.randint(6, (self.n,), generator=self.gen)

    def observe(self, step: Step) -> torch.Tensor:
        assert step.reward.shape == (self.n,) and step.map_xy is not None and step.map_xy.shape == (self.n, 2)
        self.steps += 1
        return torch.full((self.n,), 2.0)

    def update(self) -> dict[str, float]:
        return {"loss": 0.5, "policy/entropy": 1.25}

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])


def _ctx(tmp_path: Path) -> RunContext:
    cfg = resolve("darkroom-fe", ["logging.wandb=disabled", f"run.steps={STEPS}", "logging.interval=4",
                                  "logging.map_interval=100000", "run.checkpoint_every=0"], debug=True)
    return RunContext(cfg=cfg, out_dir=tmp_path, device=torch.device("cpu"), seed=0,
                      logger=LocalLogger(tmp_path), quiet=True)


def test_any_contract_agent_runs_on_the_driver_with_env_declared_metrics(tmp_path):
    env = MetricRoom(num_envs=3, size=4)
    summary = run_agent(env, ToyAgent(3), ctx=_ctx(tmp_path), generator=torch.Generator().manual_seed(0))
    assert summary["env_steps"] == 3 * STEPS
    assert summary["one"] == 1.0 and summary["late_one"] == 1.0 and summary["room_size"] == 4.0
    assert 0.0 <= summary["dark_fraction"] <= 1.0
    assert summary["success_rate"] == pytest.approx(1 / 3)  # is_success wins over termination
    assert summary["final_free_energy"] == 2.0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8]
    assert rows[0]["world_model/loss"] == 0.5 and rows[0]["policy/entropy"] == 1.25
    assert rows[0]["env/one"] == 1.0 and "env/late_one" not in rows[0]  # late: second half only
    assert rows[1]["env/late_one"] == 1.0
    state = load_checkpoint_file(tmp_path / "checkpoint.pt")["state"]
    assert state["step"] == STEPS and state["agent"] == {"steps": STEPS}
    assert (tmp_path / "exploration_map.png").exists() and (tmp_path / "visits.npy").exists()


def test_interrupt_keeps_a_checkpoint_of_the_last_finished_step(tmp_path):
    env = MetricRoom(num_envs=2, size=4)
    with pytest.raises(KeyboardInterrupt):
        run_agent(env, ToyAgent(2, fail_at=3), ctx=_ctx(tmp_path), generator=torch.Generator().manual_seed(0))
    state = load_checkpoint_file(tmp_path / "checkpoint.pt")["state"]
    assert state["step"] == 3 and state["agent"] == {"steps": 3}


def test_tracker_reads_gymnasium_vector_infos():
    """A Gymnasium vector env stacks nested info dicts into arrays plus ``_name`` masks."""
    import numpy as np

    env = MetricRoom(num_envs=2, size=4)
    env.reset(seed=0)
    tracker = Tracker(env, steps=2)
    info = {"final_map_xy": env.last_info["map_xy"], "is_success": np.array([True, False]),
            "metrics": {"one": np.array([1.0, 0.0]), "_one": np.array([True, True])}}
    tracker.step(0, torch.zeros(2), torch.zeros(2, dtype=torch.bool), info, None)
    out = tracker.summary()
    assert out["one"] == 0.5 and out["success_rate"] == 0.5 and "_one" not in out


def test_gymnasium_single_darkroom_reports_the_same_dark_fraction_as_its_twin():
    """The single DarkRoom emits the metric too, and the adapter passes its late_metrics on."""
    import envs

    results = []
    for kwargs in ({}, {"vectorization": "sync"}):
        env = envs.make("freeenergy/DarkRoom-v0", 2, "cpu", size=4, **kwargs)
        assert env.late_metrics == ("dark_fraction",)
        env.reset(seed=0)
        tracker = Tracker(env, steps=6)
        for t in range(6):
            actions = torch.full((2,), 5 if t in (1, 4) else 4)  # toggle the light at steps 1 and 4
            _, reward, terminated, _, info = env.step(actions)
            tracker.step(t, reward, terminated, info, None)
        results.append(tracker.summary()["dark_fraction"])
    assert results[0] == results[1] == pytest.approx(1 / 3)  # steps 3-5: dark at 3, lit at 4 and 5


def test_termination_counts_as_success_only_where_the_env_gives_no_is_success():
    env = DarkRoomTwin(num_envs=2, size=4)
    env.reset(seed=0)
    tracker = Tracker(env, steps=2)
    info = {"final_map_xy": env.last_info["map_xy"]}
    tracker.step(0, torch.zeros(2), torch.tensor([True, False]), info, None)
    assert tracker.summary()["success_rate"] == 0.5


def test_experiments_know_no_particular_world():
    """World-specific info keys stay in the envs; experiments read the metrics protocol."""
    for path in sorted((ROOT / "experiments").glob("*.py")):
        text = path.read_text()
        for key in ("light_on", "at_tv"):
            assert not re.search(rf"\b{key}\b", text), f"{path.name} reads the env-specific info key {key!r}"


@pytest.mark.parametrize("override", ["env.vector=async", "env.map_xy=[0, 1]"])
def test_umbrella_run_honours_env_vector_and_map_xy(override):
    from experiments.kinds.umbrella import build_env

    cfg = resolve("umbrella-muller-brown", ["logging.wandb=disabled", override], debug=True)
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        build_env(cfg, torch.device("cpu"))


def test_run_agent_needs_no_run_context():
    """Tests and notebooks drive an agent without a run folder: logs stay in memory."""
    from experiments.context import MemoryContext

    env = MetricRoom(num_envs=2, size=4)
    ctx = MemoryContext.for_steps(STEPS, seed=3, interval=2)
    summary = run_agent(env, ToyAgent(2), ctx=ctx)
    assert summary["env_steps"] == 2 * STEPS and [r["step"] for r in ctx.rows] == [2, 4, 6, 8]
    assert ctx.rows[-1]["world_model/loss"] == 0.5 and ctx.checkpoint["agent"] == {"steps": STEPS}
    assert "exploration_map" in ctx.figures
    again = run_agent(MetricRoom(num_envs=2, size=4), ToyAgent(2), steps=STEPS, seed=3)
    assert again["final_free_energy"] == summary["final_free_energy"] and again["env_steps"] == 2 * STEPS
    with pytest.raises(ValueError, match="steps="):
        run_agent(env, ToyAgent(2))
