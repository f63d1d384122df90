"""Every benchmark still runs at a tiny size and prints one JSON object naming its figure and machine."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "world_models.py": ["--steps", "2", "--warmup", "0", "--n", "256"],
    "envs.py": ["--envs", "GridMaze", "--sizes", "1", "8", "--min-time", "0.02", "--sync-cap", "8"],
    "agents.py": ["--envs", "2", "--candidates", "4", "--horizon", "2", "--repeats", "1",
                  "--sb3-steps", "128", "--sb3-envs", "4"],
    "runner.py": ["--debug", "--repeats", "1", "--quick-debug"],
    "throughput.py": ["--quick"],  # with the JAX anchor where jax is installed, a note where it is not
    "profile_step.py": ["--envs", "8", "--rollout", "4", "--rollouts", "1"],
    "anchor_jax_ppo.py": ["--quick"],
    "joint_model.py": ["--envs", "noisytv", "--copies", "8", "--steps", "30", "--train-steps", "3",
                       "--conditions", "3", "--k", "4"],
    "generative_table.py": ["--debug", "--seeds", "0", "--presets", "generative-custom"],
    "novelty_ablation.py": ["--debug", "--seeds", "0", "--settings", "preset", "rae_gmm, density_quantile=0.99"],
    "hexamodal_full.py": ["--steps", "2", "--batch", "16", "--samples", "100", "--checkpoint", "h.pt"],
}


@pytest.mark.parametrize("script", sorted(TINY))
def test_benchmark_prints_json(script: str, tmp_path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--threads", "1", *TINY[script]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["figure"] and report["unit"]
    assert report["machine"]["cpu_count"] >= 1


def test_anchor_without_jax_prints_its_json_with_a_note(tmp_path) -> None:
    """CI without the extra ``bench``: no anchor rows, one note saying what to install, exit 0."""
    code = ("import runpy, sys; sys.modules['jax'] = None; sys.argv = ['anchor_jax_ppo.py', '--quick']; "
            f"runpy.run_path({str(ROOT / 'benchmarks' / 'anchor_jax_ppo.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)["results"]
    assert results["anchor"] == [] and "pip install 'freeenergy[bench]'" in results["note"]


def test_benchmark_output_never_goes_through_a_link(tmp_path):
    from benchmarks.report import write

    mine = tmp_path / "users_file.json"
    mine.write_text("keep me")
    link = tmp_path / "out.json"
    link.symlink_to(mine)
    with pytest.raises(SystemExit, match="symbolic link"):
        write({"figure": 1}, link)
    assert mine.read_text() == "keep me"
    out = tmp_path / "res" / "out.json"
    write({"figure": 1}, out)
    write({"figure": 2}, out)  # partial results grow: the file is replaced whole
    assert json.loads(out.read_text()) == {"figure": 2} and sorted(p.name for p in out.parent.iterdir()) == ["out.json"]
