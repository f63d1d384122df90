"""Logger backends, W&B read back with wandb's own tools, and the map drawing module."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import experiments.runner as runner
from experiments import kinds
from toy_experiment import TOY_KIND
from experiments.io import maps
from experiments.config import build, Config
from experiments.io.logger import (LocalLogger, MultiLogger, WandbLogger, WandbWarning, read_metrics,
                                truncate_metrics)

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy_experiment.py"


def toy_cfg(**sections) -> Config:
    data = {"run": {"kind": "agent", "name": "toy", "steps": 30, "checkpoint_every": 10},
            "logging": {"interval": 5, "map_interval": 10, "wandb": "disabled", "quiet": True}}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return build(Config, data)


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setitem(kinds.RUN_KINDS, "agent", TOY_KIND)


# ------------------------------------------------------------------ local files


def test_local_logger_appends_and_flushes(tmp_path):
    lg = LocalLogger(tmp_path)
    lg.log_scalars({"a/x": 1.0, "a/nan": float("nan"), "a/inf": float("inf")}, 0)
    # flushed immediately: readable while the logger is still open
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 0, "a/x": 1.0, "a/nan": None, "a/inf": 1e308}]
    lg.close()
    lg = LocalLogger(tmp_path)
    lg.log_scalars({"a/x": 2}, 1)
    lg.close()
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0, 1]


def test_truncate_metrics_drops_rows_after_step_and_torn_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "v": s}) + "\n" for s in range(10)) + '{"step": 10, "v"')
    assert truncate_metrics(path, 5) == 5  # steps 6..9 and the torn line
    assert [r["step"] for r in read_metrics(path)] == [0, 1, 2, 3, 4, 5]
    assert path.read_text().endswith("\n")


# ------------------------------------------------------------------ W&B failure modes


def test_wandb_init_failure_warns_once_and_run_completes_locally(tmp_path, toy_kind, monkeypatch):
    import wandb

    calls = []

    def broken_init(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no network")

    monkeypatch.setattr(wandb, "init", broken_init)
    with pytest.warns(WandbWarning, match="W&B failed to start.*no network.*local logging") as record:
        summary, run_dir = runner.run_experiment(toy_cfg(logging={"wandb": "online"}), out=tmp_path / "run")
    assert len(calls) == 1 and len([w for w in record if w.category is WandbWarning]) == 1
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 30
    assert json.loads((run_dir / "status.json").read_text())["status"] == "complete"
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == list(range(0, 30, 5))
    assert (run_dir / "maps" / "exploration.png").stat().st_size > 1000


class _FlakyRun:
    id = "flaky"

    def __init__(self):
        self.logged = 0
        self.finished = []
        self.summary = {}

    def log(self, data, step=None, commit=None):
        self.logged += 1
        raise OSError("disk full")

    def finish(self, exit_code=None):
        self.finished.append(exit_code)


def test_wandb_log_failure_warns_once_then_stays_local(tmp_path):
    wl = WandbLogger.__new__(WandbLogger)
    wl.run, wl.run_id = _FlakyRun(), "flaky"
    flaky = wl.run
    local = LocalLogger(tmp_path)
    logger = MultiLogger(local, wl)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for step in range(5):
            logger.log_scalars({"env/x": step}, step)
        logger.log_image("maps/x", tmp_path / "none.png", 3)
        logger.log_summary({"a": 1})
        logger.close(0)
    ours = [w for w in record if issubclass(w.category, WandbWarning)]
    assert len(ours) == 1 and "failed to log" in str(ours[0].message)
    assert flaky.logged == 1 and flaky.finished == [1]  # disabled after the first failure, and finished
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ W&B read back


def _inspect(wandb_bin: Path, run: Path, *flags: str) -> str:
    out = subprocess.run([str(wandb_bin), "leet", "inspect", *flags, "--json", str(run)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_offline_run_read_back_with_wandb_tools(tmp_path):
    """A real offline run in a subprocess (the .wandb file is complete once it exits),
    then read with ``wandb leet inspect``: config, scalars, map images, summary, clean exit."""
    wandb_bin = Path(sys.executable).with_name("wandb")
    if not wandb_bin.exists():
        wandb_bin = Path(shutil.which("wandb") or "wandb")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump({"config": {
        "run": {"kind": "agent", "steps": 40, "checkpoint_every": 20},
        "logging": {"interval": 5, "map_interval": 20, "wandb": "offline", "tags": ["readback"]}}}))
    proc = subprocess.run([sys.executable, str(TOY), "run", str(cfg), "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert "wandb sync" in proc.stdout
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    images = sorted((runs[0] / "files" / "media" / "images" / "maps").glob("exploration_*.png"))
    assert len(images) == 2  # steps 0 and 20

    records = [json.loads(line) for line in _inspect(wandb_bin, runs[0]).splitlines() if line.strip()]
    history = [r["history"]["item"] for r in records if r.get("type") == "history"]
    steps = [h["_step"] for h in history if "world_model/loss" in h]
    assert steps == list(range(0, 40, 5))
    local = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [h["world_model/loss"] for h in history if "world_model/loss" in h] == pytest.approx(
        [r["world_model/loss"] for r in local])
    image_rows = [h for h in history if h.get("maps/exploration._type") == "image-file"]
    assert [h["_step"] for h in image_rows] == [0, 20]
    run_rec = next(r["run"] for r in records if r.get("type") == "run")
    config = run_rec["config"]["update"]
    assert config["run"]["steps"] == 40 and config["logging"]["interval"] == 5
    assert "readback" in run_rec["tags"]

    summary = json.loads(_inspect(wandb_bin, runs[0], "--summary"))
    assert summary["exit_code"] == 0 and summary["state"] == "finished"
    assert summary["summary"]["steps"] == 40
    assert summary["summary"]["maps/coverage"]["_type"] == "image-file"  # the coverage curve
    assert summary["summary"]["coverage"] == pytest.approx(
        json.loads((tmp_path / "run" / "summary.json").read_text())["coverage"])


# ------------------------------------------------------------------ maps


BOUNDS = ((0.0, 4.0), (0.0, 2.0))


def test_visitation_counts_bins_x_to_columns_and_y_to_rows():
    xy = np.array([[0.5, 0.5], [3.5, 1.5], [3.5, 1.5], [9.0, -1.0]])  # last one clipped into a corner
    counts = maps.visitation_counts(xy, BOUNDS, (2, 4))
    expect = np.zeros((2, 4))
    expect[0, 0], expect[1, 3], expect[0, 3] = 1, 2, 1
    np.testing.assert_array_equal(counts, expect)
    assert maps.coverage(counts) == pytest.approx(3 / 8)
    reachable = np.ones((2, 4), bool)
    reachable[0, 1:3] = False
    assert maps.coverage(counts, reachable) == pytest.approx(3 / 6)


def test_exploration_map_uses_fixed_scale_and_draws_walls():
    counts = np.arange(8, dtype=float).reshape(2, 4)
    walls = np.zeros((2, 4), bool)
    walls[1, 0] = True
    fig = maps.plot_exploration_map(counts, BOUNDS, walls=walls, vmax=100.0, title="t")
    ax = fig.axes[0]
    heat, wall_img = ax.images
    assert heat.norm.vmax == 100.0 and heat.norm.vmin == 0.0
    assert list(heat.get_extent()) == [0.0, 4.0, 0.0, 2.0]
    assert np.ma.getmaskarray(wall_img.get_array()).sum() == 7  # only the wall cell is drawn
    assert ax.get_title() == "t"
    fig_log = maps.plot_exploration_map(counts, BOUNDS, log=True)
    assert fig_log.axes[0].images[0].norm.vmax == 7.0
    assert np.ma.getmaskarray(fig_log.axes[0].images[0].get_array())[0, 0]  # zero visits masked
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        maps.plot_exploration_map(np.zeros(5), BOUNDS)


def test_pca_projection_recovers_the_dominant_plane():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(200, 2)) * np.array([5.0, 2.0])
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0][:2]  # orthonormal rows
    codes = plane @ basis + 0.01 * rng.normal(size=(200, 6))
    proj = maps.pca_2d(codes)
    # the projection keeps the plane's variances (up to sign, fixed deterministically)
    assert proj.std(axis=0) == pytest.approx(plane.std(axis=0), rel=0.02)
    np.testing.assert_array_equal(proj, maps.pca_2d(codes))
    assert maps.pca_2d(np.ones((5, 1))).shape == (5, 2)


def test_latent_map_coverage_curve_and_side_by_side(tmp_path):
    import torch

    codes = torch.randn(50, 4)
    fe = torch.rand(50)
    fe[0] = float("nan")
    latent = maps.plot_latent_map(codes, fe)
    assert len(latent.axes[0].collections) == 2  # non-finite points drawn apart
    with pytest.raises(ValueError, match="free_energy has 3 values for 50 codes"):
        maps.plot_latent_map(codes, fe[:3])
    curve = maps.plot_coverage_curve([0, 10, 20], {"afe": [0.1, 0.5, 0.9], "random": [0.1, 0.2]})
    lines = curve.axes[0].get_lines()
    assert [len(line.get_xdata()) for line in lines] == [3, 2]
    png = tmp_path / "a.png"
    latent.savefig(png)
    side = maps.plot_side_by_side([curve, png, np.zeros((10, 20, 3))], ["curve", "latent", "blank"])
    assert [ax.get_title() for ax in side.axes] == ["curve", "latent", "blank"]
    with pytest.raises(ValueError):
        maps.plot_side_by_side([])
