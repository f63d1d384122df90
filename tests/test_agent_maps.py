"""An agent run draws its exploration and latent maps, and drawing them does not change the run."""
from __future__ import annotations

import json

from matplotlib.image import imread

from experiments import cli


def _run(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / name
    code = cli.main(["run", "maze-afe", "--debug", "logging.wandb=disabled", "--out", str(out), "--quiet", *extra])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_agent_run_draws_maps_and_drawing_leaves_results_unchanged(tmp_path):
    drawn = _run(tmp_path, "drawn", "logging.map_interval=5")
    quiet = _run(tmp_path, "quiet", "logging.map_interval=100000")
    for name in ("exploration_map.png", "latent_map.png"):
        img = imread(tmp_path / "drawn" / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 0.01, name  # a real, non-blank picture
    timing = ("env_steps_per_second", "wall_seconds")
    assert {k: v for k, v in drawn.items() if k not in timing} == {k: v for k, v in quiet.items() if k not in timing}
