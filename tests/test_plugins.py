"""Plugged-in envs: a user's own module named like a project package never shadows it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
