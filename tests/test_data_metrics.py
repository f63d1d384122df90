"""Synthetic data sets, the user-data loader, the standardiser and the sample metrics."""
from __future__ import annotations

import numpy as np
import pytest

from freeenergy import metrics
from freeenergy.data import (
    Standardiser,
    hexamodal,
    hexamodal_mode_log_density,
    load_array,
    make_synthetic,
    parabola,
    split,
)


def test_parabola_is_seeded_and_exact():
    x = parabola(1000, seed=3)
    assert x.shape == (1000, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, parabola(1000, seed=3))
    assert not np.array_equal(x, parabola(1000, seed=4))
    np.testing.assert_allclose(x[:, 2], (x[:, 0] - x[:, 1]) ** 2, rtol=1e-5, atol=1e-6)
    assert abs(x[:, 0].mean()) < 0.1 and abs(x[:, 0].std() - 1) < 0.1
    assert metrics.constraint_mae(x) < 1e-5


def test_hexamodal_has_six_modes_in_the_unit_square():
    y, mode = hexamodal(6000, seed=0, return_modes=True)
    assert y.shape == (6000, 2) and ((y > 0) & (y < 1)).all()
    assert sorted(np.unique(mode)) == list(range(6))
    # The exact density integrates to one over the square.
    g = np.linspace(0.0005, 0.9995, 1000)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    dens = np.exp(np.logaddexp.reduce(hexamodal_mode_log_density(grid), axis=1))
    assert dens.sum() * 0.001**2 == pytest.approx(1.0, abs=0.01)
    # The most likely component of a point is almost always the one it came from.
    assert (hexamodal_mode_log_density(y).argmax(1) == mode).mean() > 0.97


def test_hexamodal_metrics_on_true_partial_and_uniform_sets():
    y, mode = hexamodal(20000, seed=1, return_modes=True)
    assert metrics.modes_covered(y) == 6
    assert metrics.off_mode_fraction(y) == pytest.approx(0.01, abs=0.005)
    assert metrics.modes_covered(y[mode < 3]) == 3
    fr = metrics.mode_fractions(y)
    assert len(fr) == 6 and all(abs(f - 0.99 / 6) < 0.02 for f in fr)
    uniform = np.random.default_rng(0).random((5000, 2))
    assert metrics.off_mode_fraction(uniform) > 0.5
    collapsed = np.full((1000, 2), 0.5)  # the mean of the set lies between the modes
    assert metrics.off_mode_fraction(collapsed) == 1.0
    assert metrics.modes_covered(collapsed) == 0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        metrics.modes_covered(np.zeros((10, 3)))


def test_energy_distance_analytic_cases():
    x = parabola(1500, seed=0)
    assert metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    # Two point masses a apart: 2|a| - 0 - 0.
    a = np.zeros((10, 2))
    b = np.tile([3.0, 4.0], (10, 1))
    assert metrics.energy_distance(a, b) == pytest.approx(10.0)
    same = metrics.energy_distance(parabola(1500, 0), parabola(1500, 1))
    shifted = metrics.energy_distance(parabola(1500, 0), parabola(1500, 1) + 1.0)
    assert same < 0.02 and shifted > 0.5
    assert metrics.energy_distance(a, np.full((4, 2), np.nan)) == float("inf")


def test_mmd_analytic_cases():
    x = parabola(1500, seed=0)
    assert metrics.mmd(x, x) == pytest.approx(0.0, abs=1e-6)
    a, b = np.zeros((5, 1)), np.ones((5, 1))
    # k(a, a) = k(b, b) = 1, k(a, b) = exp(-1 / (2 h^2)).
    assert metrics.mmd(a, b, bandwidth=1.0) == pytest.approx(np.sqrt(2 - 2 * np.exp(-0.5)))
    same = metrics.mmd(parabola(1500, 0), parabola(1500, 1))
    shifted = metrics.mmd(parabola(1500, 0), parabola(1500, 1) + 1.0)
    assert shifted > 5 * same


def test_metrics_subsample_is_seeded_and_capped():
    x, y = parabola(2000, 0), parabola(2000, 1)
    assert metrics.energy_distance(x, y, max_points=500, seed=2) == metrics.energy_distance(
        x, y, max_points=500, seed=2)
    with pytest.raises(ValueError, match="dimension"):
        metrics.energy_distance(np.zeros((5, 2)), np.zeros((5, 3)))


def test_constraint_mae_analytic():
    s = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.5], [2.0, 0.0, 4.0]])  # errors 1, 0.5, 0
    assert metrics.constraint_mae(s) == pytest.approx(0.5)


def test_load_array_npy_and_csv(tmp_path):
    x = parabola(20, 0)
    np.save(tmp_path / "d.npy", x)
    np.testing.assert_array_equal(load_array(tmp_path / "d.npy"), x)
    np.savetxt(tmp_path / "d.csv", x, delimiter=",", header="a,b,c", comments="")
    np.testing.assert_allclose(load_array(tmp_path / "d.csv"), x, rtol=1e-5)
    np.savetxt(tmp_path / "n.csv", x, delimiter=",")
    assert load_array(tmp_path / "n.csv").shape == (20, 3)


def test_bad_data_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_array(tmp_path / "missing.npy")
    np.save(tmp_path / "flat.npy", np.zeros(10))
    with pytest.raises(ValueError, match=r"shape \(10,\).*2-D array \(N, D\)"):
        load_array(tmp_path / "flat.npy")
    bad = parabola(10, 0)
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"1 NaN/inf value\(s\), first in row\(s\) \[3\]"):
        load_array(tmp_path / "nan.npy")
    (tmp_path / "text.csv").write_text("a,b\n1,x\n2,3\n")
    with pytest.raises(ValueError, match="not a numeric CSV"):
        load_array(tmp_path / "text.csv")
    (tmp_path / "d.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"\.npy or \.csv"):
        load_array(tmp_path / "d.txt")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read"):
        load_array(tmp_path / "junk.npy")
    with pytest.raises(ValueError, match="unknown synthetic data set 'nope'"):
        make_synthetic("nope", 10)


def test_standardiser_round_trip_and_split():
    x = parabola(500, 0) * np.array([1.0, 10.0, 0.1], dtype=np.float32) + 5
    s = Standardiser.fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(s.inverse(z), x, rtol=1e-5, atol=1e-4)
    const = np.ones((4, 2), dtype=np.float32)
    np.testing.assert_array_equal(Standardiser.fit(const).transform(const), 0)
    train, test = split(x, 0.2, seed=0)
    assert len(train) == 400 and len(test) == 100

