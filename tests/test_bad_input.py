"""Bad inputs that only show up once a run starts still end as the CLI's
one-line error (exit code 2), naming the key, instead of a traceback."""
from __future__ import annotations

import pytest

from experiments.cli import main


@pytest.mark.parametrize("preset, overrides, key", [
    ("novelty-waves", ["data.name=parabola"], "data.name"),
    ("generative-custom", ["data.path=/nonexist.npy"], "data.path"),
    ("umbrella-muller-brown", ["umbrella.direction=[1,0,0]"], "umbrella.direction"),
    ("maze-afe", ["agent.type=sac"], "agent.type"),
    ("maze-afe", ["agent.type=ppo", "agent.sb3_kwargs={bogus: 1}"], "agent.sb3_kwargs"),
    ("maze-afe", ["agent.planner.goal_obs=[1,2,3]", "agent.planner.goal_weight=1"], "agent.planner.goal_obs"),
], ids=["novelty-data-name", "generative-data-path", "umbrella-direction", "sac-discrete",
        "sb3-kwargs", "goal-obs-size"])
def test_bad_input_is_a_one_line_error(tmp_path, capsys, preset, overrides, key):
    code = main(["run", preset, *overrides, "--debug", "logging.wandb=disabled",
                 "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("freeenergy: error:"), err
    assert key in lines[0], err
    assert "Traceback" not in err
