"""Sweeps: the W&B-format file, its trials, the table, and a real sweep through Ray Tune."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from experiments.cli import main
from experiments.config import ConfigError
from experiments.errors import UserError
from experiments.scale.sweep_spec import expand, parse_sweep
from experiments.scale.sweep_table import interval

ROOT = Path(__file__).resolve().parents[1]
# Tiny trials: the test is about the sweep machinery, not the agents.
FAST = ["logging.wandb=disabled", "run.steps=6", "logging.interval=1000", "logging.map_interval=1000"]


def _spec(**params: dict) -> dict:
    return {"method": "grid", "metric": {"name": "coverage", "goal": "maximize"},
            "parameters": {"preset": {"value": "maze-afe"}, **params}}


def _write(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_grid_crosses_values_and_seeds_with_stable_ids():
    spec = parse_sweep(_spec(**{"agent.type": {"values": ["afe", "random"]}, "run.seed": {"values": [0, 1, 2]},
                                "env.num_envs": {"value": 2}}))
    trials = expand(spec)
    assert len(trials) == 6 and len({t.tid for t in trials}) == 6
    assert [t.tid for t in expand(spec)] == [t.tid for t in trials]
    assert len({t.group for t in trials}) == 2 and spec.swept == ["agent.type"]


def test_random_draws_run_cap_configurations_reproducibly():
    data = _spec(**{"world_model.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                    "agent.planner.horizon": {"min": 2, "max": 5}, "run.seed": {"values": [0, 1]}})
    data.update(method="random", run_cap=4)
    trials = expand(parse_sweep(data))
    assert len(trials) == 8
    lrs = {t.params["world_model.lr"] for t in trials}
    assert len(lrs) == 4 and all(1e-4 <= v <= 1e-2 for v in lrs)
    assert all(isinstance(t.params["agent.planner.horizon"], int) for t in trials)
    assert [t.params for t in expand(parse_sweep(data))] == [t.params for t in trials]


def test_interval_is_student_t():
    s = interval([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == 1.0
    assert s["ci95_high"] - 2.0 == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-5)
    assert interval([5.0])["std"] is None and interval([])["n"] == 0


@pytest.mark.parametrize("params, extra, fragment", [
    ({"agent.typo": {"values": [1]}}, [], "unknown config key 'agent.typo'"),
    ({"agent.planner.horizon": {"values": ["many"]}}, [], "agent.planner.horizon='many' is invalid"),
    ({"agent.planner.horizon": {"values": 3}}, [], "values=3 is invalid"),
    ({"agent.planner.horizon": {"distribution": "uniform", "min": 1, "max": 4}}, [], "cannot enumerate"),
    ({}, ["--address", "127.0.0.1:9"], "--address '127.0.0.1:9' is unreachable"),
])
def test_bad_sweeps_are_one_line(tmp_path, capsys, params, extra, fragment):
    path = _write(tmp_path, _spec(**params))
    assert main(["sweep", path, "--out", str(tmp_path / "s"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1, err


def test_missing_base_preset_and_unknown_preset(tmp_path):
    with pytest.raises(ConfigError, match="missing base preset"):
        parse_sweep({"method": "grid", "metric": {"name": "coverage"}, "parameters": {"run.seed": {"values": [0]}}})
    with pytest.raises(ConfigError, match="unknown preset 'maze-afx'"):
        parse_sweep({"metric": {"name": "coverage"}, "parameters": {"preset": {"value": "maze-afx"}}})


def test_missing_ray_gives_the_install_hint(monkeypatch):
    from experiments.scale import sweep

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UserError, match=r"pip install 'freeenergy\[sweep\]'"):
        sweep.require_ray()


# ---------------------------------------------------------------- through Ray
@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module (starting Ray is the slow part)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _summaries(folder: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime for p in folder.glob("trials/*/summary.json")}


@pytest.mark.timeout(300)
def test_exploration_sweep_resumes_after_kill_and_writes_its_table(ray_session, tmp_path):
    """3 methods x 10 seeds: killed (SIGKILL) part-way, re-run, and every trial done exactly once."""
    from experiments.scale.sweep import run_sweep

    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "experiments", "sweep", "sweep-exploration", "--debug", "--out", str(out),
           "--address", ray_session, *FAST]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180  # generous: Ray's first trials start slowly on a loaded machine
    while len(_summaries(out)) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _summaries(out)
    assert 4 <= len(before) < 30, proc.stderr.read().decode()[-2000:]
    time.sleep(1.0)  # let Ray reap the dead driver's trials

    folder, counts = run_sweep("sweep-exploration", FAST, out=str(out), debug=True, echo=lambda *_: None)
    assert counts == {"complete": 30}
    after = _summaries(out)
    assert {k: after[k] for k in before} == before  # finished trials were skipped, not re-run
    rows = json.loads((folder / "results.json").read_text())["rows"]
    assert [r["params"]["agent.type"] for r in rows] == ["afe", "fe", "random"]
    assert all(r["coverage"]["n"] == 10 and r["coverage"]["ci95_low"] <= r["coverage"]["mean"] for r in rows)
    assert (folder / "results.md").read_text().count("| 10/10 |") == 3
    assert len((folder / "results.csv").read_text().splitlines()) == 4
    assert (folder / "results_coverage.png").stat().st_size > 0


@pytest.mark.timeout(120)
def test_a_failed_trial_is_recorded_and_the_others_finish(ray_session, tmp_path):
    from experiments.scale.sweep import run_sweep

    data = _spec(**{"env.id": {"values": ["freeenergy/MultiRoom-v0", "freeenergy/NoSuchWorld-v0"]},
                    "run.seed": {"values": [0]}})
    folder, counts = run_sweep(_write(tmp_path, data), FAST, out=str(tmp_path / "s"), debug=True,
                               echo=lambda *_: None)
    assert counts == {"complete": 1, "failed": 1}
    record = json.loads((folder / "trials.json").read_text())
    failed = [r for r in record if r["status"] == "failed"]
    assert "NoSuchWorld" in failed[0]["error"]
    assert json.loads((Path(failed[0]["dir"]) / "status.json").read_text())["status"] == "failed"


def test_wandb_agent_command_form_runs_one_seed(tmp_path):
    """`wandb agent` calls `freeenergy run ${args_no_hyphens}`: parameters as key=value, preset among them."""
    assert main(["run", "agent.type=random", "preset=maze-afe", "run.seed=3", *FAST, "--debug", "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["seed"] == 3 and "per_seed" not in summary
