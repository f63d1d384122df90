"""The generative experiment end to end at debug size, through the runner."""
from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.config import ConfigError
from experiments.config.presets import resolve
from experiments.runner import run_experiment

MODELS = ["rae", "rae_gmm", "ae", "mc_ae", "vae", "dae", "gan"]


def _run(preset: str, tmp_path, *overrides: str) -> tuple[dict, object]:
    cfg = resolve(preset, ["logging.wandb=disabled", "logging.quiet=true", *overrides], debug=True)
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    summary, run_dir = run_experiment(cfg, out=out, quiet=True)
    return summary, run_dir


def _check_outputs(summary: dict, run_dir, dim: int, samples: int, extra: list[str]) -> None:
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert set(on_disk["models"]) == set(MODELS)
    for name in MODELS:
        r = on_disk["models"][name]
        for key in ["energy_distance", "mmd", "train_seconds", *extra]:
            assert key in r, (name, key)
        assert r["energy_distance"] is None or r["energy_distance"] >= 0
        s = np.load(run_dir / f"samples_{name}.npy")
        assert s.dtype == np.float32 and s.shape == (samples, dim)
        assert (run_dir / f"scatter_{name}.png").stat().st_size > 0
    table = (run_dir / "table.md").read_text()
    assert all(f"| {name} |" in table for name in MODELS)
    assert (run_dir / "config.yaml").exists()


def test_generative_parabola_debug_writes_everything(tmp_path):
    summary, run_dir = _run("generative-parabola", tmp_path)
    _check_outputs(summary, run_dir, 3, 300, ["constraint_mae"])


def test_generative_hexamodal_debug_writes_everything(tmp_path):
    summary, run_dir = _run("generative-hexamodal", tmp_path)
    _check_outputs(summary, run_dir, 2, 300, ["modes_covered", "off_mode_fraction"])
    assert all(0 <= r["modes_covered"] <= 6 for r in summary["models"].values())


def test_generative_custom_data_is_standardised_and_mapped_back(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 2)) * [100.0, 0.01] + [1000.0, -5.0]
    np.save(tmp_path / "mine.npy", data)
    summary, run_dir = _run("generative-custom", tmp_path, f"data.path={tmp_path / 'mine.npy'}",
                            "generative.models=[ae]")
    assert summary["data"]["standardised"] and summary["data"]["reference_points"] == 60
    s = np.load(run_dir / "samples_ae.npy")
    # Samples live in data space: near the data's own scale, not the unit scale.
    assert abs(np.median(s[:, 0]) - 1000) < 300 and abs(np.median(s[:, 1]) + 5) < 1


def test_generative_bad_settings_are_named(tmp_path):
    with pytest.raises(ConfigError, match="generative.overrides.rae.bogus"):
        _run("generative-parabola", tmp_path, "generative.overrides={rae: {bogus: 1}}")
    with pytest.raises(ConfigError, match="nothere.npy"):
        _run("generative-custom", tmp_path, f"data.path={tmp_path / 'nothere.npy'}")
