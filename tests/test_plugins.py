"""Plugged-in envs: a user's own module named like a project package never shadows it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_a_users_envs_py_does_not_shadow_the_project(tmp_path):
    (tmp_path / "envs.py").write_text("raise SystemExit('the user envs.py was imported')\n")
    (tmp_path / "agents.py").write_text("X = 1\n")
    (tmp_path / "mymod.py").write_text((ROOT / "tests" / "plugin_envs.py").read_text())
    args = [sys.executable, "-m", "experiments", "run", "maze-afe", "--debug", "env.id=mymod:MultiDiscreteGrid",
            "agent.type=random", "run.steps=5", "logging.wandb=disabled", "--quiet", "--out", str(tmp_path / "r")]
    res = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "r" / "summary.json").exists()

RUN = ["agent.type=random", "env.num_envs=1", "run.steps=120", "run.seeds=[]", "logging.interval=60",
       "logging.map_interval=1000", "logging.wandb=disabled", "--quiet"]


@pytest.mark.parametrize("env, space", [("SnakeGrid", "MultiDiscrete([10 10])"), ("IntBoxSnake", "Box(0, 9, (2,)"),
                                        ("DiscreteSnake", "Discrete(100)")])
def test_a_fully_visited_plugged_in_grid_has_coverage_one(tmp_path, capsys, env, space):
    assert main(["run", "maze-afe", "--debug", f"env.id=plugin_envs:{env}", *RUN, "--out", str(tmp_path / "r")]) == 0
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["coverage"] == 1.0 and s["unique_cells"] == 100 and s["coverage_cells"] == 100
    assert "guessed from the " + space in s["coverage_of"] and "env.map_grid" in s["coverage_of"]
    assert s["steps_per_copy"] == 120 and s["env_steps"] == 120


def test_env_map_grid_sets_the_cells(tmp_path, capsys):
    assert main(["run", "maze-afe", "--debug", "env.id=plugin_envs:IntBoxSnake", "env.map_grid=[5, 4]", *RUN,
                 "--out", str(tmp_path / "r")]) == 0
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["coverage_cells"] == 20 and s["coverage"] == 1.0 and s["coverage_of"] == "all 5x4 map cells (env.map_grid)"
    assert main(["show", "maze-afe", "env.map_grid=[5]"]) == 2
    assert "env.map_grid=[5] is invalid" in capsys.readouterr().err


def test_minigrid_maps_name_the_level_and_count_no_walls(tmp_path, capsys, monkeypatch):
    pytest.importorskip("minigrid")
    from experiments.io import maps

    drawn = {}
    real = maps.plot_exploration_map

    def spy(*a, **kw):
        drawn.update(kw)
        return real(*a, **kw)
    monkeypatch.setattr(maps, "plot_exploration_map", spy)
    code = main(["run", "minigrid-multiroom-afe", "--debug", "env.kwargs={env_id: MiniGrid-Empty-8x8-v0}",
                 *RUN[:1], "run.steps=40", "logging.wandb=disabled", "--quiet", "--out", str(tmp_path / "r")])
    assert code == 0, capsys.readouterr().err
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["coverage_cells"] == 36 and s["coverage_of"].startswith("reachable cells")  # 6x6 floor, no walls
    assert drawn["title"].startswith("MiniGrid-Empty-8x8-v0") and "obs[" not in drawn["xlabel"] + drawn["ylabel"]
