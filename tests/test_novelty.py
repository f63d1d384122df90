"""Novelty search steps, the waves data set and the spectral statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from freeenergy import novelty as nv
from freeenergy import spectral as sp
from freeenergy.rae import RAE
from freeenergy.waves import make_waves


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    data = torch.as_tensor(make_waves(256, 32, band=(2.0, 3.0), seed=0))
    model = RAE(32, code_dim=6, hidden=(48,), passes=2, sigma=0.05, code_penalty=0.03, lr=3e-3)
    nv.train_epochs(model, data, 30, 64, torch.Generator().manual_seed(0))
    return model, data


def test_novelty_search_increases_cycle_error(trained):
    model, data = trained
    before = [p.detach().clone() for p in model.parameters()]
    z0 = nv.latent_starts(model, data, 64, "code_gaussian", torch.Generator().manual_seed(1))
    z, errs = nv.novelty_search(model, z0, steps=5, step_size=0.05)
    assert errs.shape == (6, 64)
    assert errs[-1].mean() > errs[0].mean() * 1.05
    # Small steps up the gradient raise each point's error (first order), for nearly all points.
    assert (errs[1] > errs[0]).float().mean() > 0.9
    # The search moves codes by exactly step_size per step (l2 normalisation) and leaves the model alone.
    moved = (nv.search_step(model, z0, 0.05) - z0).norm(dim=-1)
    torch.testing.assert_close(moved, torch.full_like(moved, 0.05), rtol=1e-4, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # Going *down* the gradient lowers it: the step really follows the cycle error's gradient.
    with torch.no_grad():
        down = nv.cycle_error(model, nv.search_step(model, z0, -0.01)).mean()
    assert down < errs[0].mean()


def test_latent_starts_and_normalisation(trained):
    model, data = trained
    g = torch.Generator().manual_seed(0)
    for start in nv.STARTS:
        z = nv.latent_starts(model, data, 10, start, g)
        assert z.shape == (10, 6) and torch.isfinite(z).all()
    with pytest.raises(ValueError, match="start"):
        nv.latent_starts(model, data, 10, "nowhere")
    gr = torch.tensor([[3.0, -4.0], [0.0, 0.5]])
    torch.testing.assert_close(nv.normalise(gr, "l2").norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(nv.normalise(gr, "max").abs().amax(-1), torch.ones(2))
    assert torch.equal(nv.normalise(gr, "none"), gr)


def test_replace_rows_replaces_the_stated_fraction():
    data = torch.zeros(200, 4)
    novel = torch.ones(30, 4)
    out, rows, used = nv.replace_rows(data, novel, 0.1, torch.Generator().manual_seed(0))
    assert rows.numel() == 20 and used.numel() == 20 and len(set(rows.tolist())) == 20
    assert out.sum().item() == 80 and data.sum().item() == 0
    out, rows, _ = nv.replace_rows(data, novel[:5], 0.5)
    assert rows.numel() == 5


def test_novelty_round_keeps_data_shape(trained):
    model, data = trained
    res = nv.novelty_round(model, data, 0.1, 3, 0.05, "l2", "data", 0.05, torch.Generator().manual_seed(2))
    assert res.novel.shape == (26, 32) and res.data.shape == data.shape
    changed = (res.data != data).any(dim=1).nonzero().flatten()
    assert set(changed.tolist()) <= set(res.replaced_rows.tolist()) and res.replaced_rows.numel() == 13


@pytest.mark.parametrize("band", [(3.0, 5.0), (7.0, 9.5)])
def test_waves_have_the_stated_frequency_band(band):
    x, p = make_waves(2000, 64, band=band, seed=1, return_params=True)
    assert x.shape == (2000, 64) and x.dtype == np.float32
    assert p["freq"].min() >= band[0] and p["freq"].max() <= band[1]
    dom = sp.dominant_frequency(x)
    # Leakage of a non-integer frequency stays in the nearest FFT bins.
    assert dom.min() >= np.floor(band[0]) and dom.max() <= np.ceil(band[1])
    assert set(np.unique(p["shape"])) == {"sine", "square"}
    sq = x[p["shape"] == "square"]
    np.testing.assert_allclose(np.abs(sq), np.repeat(p["amplitude"][p["shape"] == "square"][:, None], 64, 1),
                               rtol=1e-6)
    assert np.abs(x).max() <= 1.0
    # Integer frequencies land exactly in their bin.
    exact = make_waves(50, 64, band=(6.0, 6.0), seed=2)
    assert np.all(sp.dominant_frequency(exact) == 6)
    with pytest.raises(ValueError, match="band"):
        make_waves(10, 64, band=(3.0, 40.0))


def test_spectral_statistics():
    t = np.arange(64)
    sines = np.stack([np.sin(2 * np.pi * f * t / 64) for f in (3, 3, 5, 9)])
    assert sp.dominant_frequency(sines).tolist() == [3, 3, 5, 9]
    assert sp.dominant_frequency_entropy(sines[:2]) == pytest.approx(0.0)
    assert sp.dominant_frequency_entropy(sines) == pytest.approx(-(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25)))
    assert sp.distinct_peaks(sines) == 3
    noise = sp.matched_white_noise(sines, 500, seed=0)
    assert sp.noise_like_fraction(noise) > 0.95
    waves = make_waves(500, 64, seed=3)
    assert sp.noise_like_fraction(waves) == 0.0
    assert sp.spectral_flatness(sines).max() < 0.01
    # The error percentile is 0 at the data's median error and 100 at noise's, on a log scale.
    assert sp.error_percentile(np.full(5, 0.01), np.full(5, 0.01), np.full(5, 1.0)) == pytest.approx(0.0)
    assert sp.error_percentile(np.full(5, 0.1), np.full(5, 0.01), np.full(5, 1.0)) == pytest.approx(50.0)
    assert np.isnan(sp.error_percentile(np.ones(3), np.ones(3), np.ones(3)))


def test_novelty_preset_runs_at_debug_size(tmp_path):
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve("novelty-waves", ["logging.wandb=disabled"], debug=True)
    summary, run_dir = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    assert len(summary["rounds"]) == cfg.novelty.rounds
    for key in ("initial_entropy", "final_entropy", "entropy_ratio", "initial_peaks", "final_peaks",
                "noise_like_fraction", "error_percentile"):
        assert key in summary, key
    r = summary["rounds"][0]
    assert r["cycle_error_end"] > r["cycle_error_start"]
    novel = np.load(run_dir / "novel_round_01.npy")
    final = np.load(run_dir / "data_final.npy")
    assert novel.shape == (round(cfg.novelty.latent_fraction * cfg.data.n), cfg.novelty.wave_length)
    assert final.shape == (cfg.data.n, cfg.novelty.wave_length)
    assert (run_dir / "gallery_round_01.png").is_file()


def test_archive_search_raises_novelty_within_the_free_energy_constraint(trained):
    model, data = trained
    g = torch.Generator().manual_seed(3)
    z0 = nv.latent_starts(model, data, 40, "data", g)
    archive = nv.code_archive(model, data, k=5)
    feasible = nv.free_energy_constraint(model, data, 0.9)
    start_ok = feasible(z0)
    z, trace, accepted = nv.archive_search(model, z0, archive, steps=6, step_size=0.2, feasible=feasible)
    assert trace.shape == (7, 40) and 0 < accepted <= 1
    assert float(trace[-1].mean()) > 1.2 * float(trace[0].mean())
    # A point that started feasible never left the feasible set; one that did not stayed put.
    assert bool(feasible(z)[start_ok].all()) and torch.equal(z[~start_ok], z0[~start_ok])
    # A zero threshold forbids every step.
    never = nv.archive_search(model, z0, archive, 3, 0.2, lambda c: torch.zeros(len(c), dtype=torch.bool))
    assert torch.equal(never[0], z0) and never[2] == 0.0


def test_archive_round_replaces_data_with_its_most_novel_samples(trained):
    model, data = trained
    res = nv.archive_round(model, data, data, latent_fraction=0.1, steps=3, step_size=0.2, replace_fraction=0.05,
                           k=5, generator=torch.Generator().manual_seed(4))
    assert res.novel.shape == (26, 32) and res.data.shape == data.shape and res.novelty.shape == (4, 26)
    assert res.replaced_rows.numel() == 13
    most = res.novelty[-1].argsort(descending=True)[:13]
    assert torch.equal(res.used_novel_rows, most)
    torch.testing.assert_close(res.data[res.replaced_rows], res.novel[most])
