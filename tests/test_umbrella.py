"""Umbrella sampling maths: biases, forces, subsampling, MBAR/WHAM against analytic profiles."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from freeenergy import umbrella as um


def exact_biased_samples(v, centres, kappa, n, rng, lo=-2.5, hi=2.5):
    """Exact draws from exp(-(V + U_k)) (kT = 1) by inverse CDF on a fine grid, per window."""
    grid = np.linspace(lo, hi, 40001)
    xs, ws = [], []
    for k, c in enumerate(centres):
        logp = -v(grid) - um.harmonic_bias(grid, c, kappa)
        cdf = np.cumsum(np.exp(logp - logp.max()))
        xs.append(np.interp(rng.random(n), cdf / cdf[-1], grid))
        ws.append(np.full(n, k))
    return np.concatenate(xs), np.concatenate(ws)


def bin_average_pmf(v, edges):
    f = np.array([-np.log(np.mean(np.exp(-v(np.linspace(a, b, 401))))) for a, b in zip(edges[:-1], edges[1:])])
    return f - f.min()


def double_well(x):
    return 5.0 * (x**2 - 1.0) ** 2


def test_mbar_and_wham_recover_double_well_profile():
    rng = np.random.default_rng(0)
    centres = um.window_centres(-1.5, 1.5, 11)
    kappa = um.auto_kappa(centres, kT=1.0)
    xi, win = exact_biased_samples(double_well, centres, kappa, 1500, rng)
    edges = np.linspace(-1.5, 1.5, 21)
    exact = bin_average_pmf(double_well, edges)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pmf = um.mbar_pmf(xi, win, centres, kappa, 1.0, edges)
    assert not [w for w in caught if "overlap" in str(w.message)]  # neighbouring windows overlap
    wham = um.wham_pmf(xi, win, centres, kappa, 1.0, edges)
    assert pmf.covered.all()
    assert um.pmf_rmse(pmf.f, exact) < 0.2
    assert um.pmf_rmse(wham.f, exact) < 0.2
    # The barrier (5 kT) is resolved, and MBAR's error bars are honest (most bins within 3 sigma).
    barrier = pmf.f[np.argmin(np.abs(pmf.centres))] - np.nanmin(pmf.f)
    assert abs(barrier - 5.0) < 0.4
    diff = pmf.f - exact
    diff -= np.mean(diff)
    assert np.mean(np.abs(diff) < 3 * pmf.df + 0.05) > 0.85
    assert np.all(np.isfinite(pmf.df)) and np.all(pmf.df > 0)
    # The unbiased-state weights of the pooled samples rebuild the same profile by histogram.
    mbar = pmf.extra["mbar"]
    log_w = um.unbiased_log_weights(mbar)
    assert np.exp(log_w).sum() == pytest.approx(1.0)
    order = np.argsort(win, kind="stable")
    p = np.histogram(xi[order], bins=edges, weights=np.exp(log_w))[0]
    np.testing.assert_allclose(-np.log(p / np.diff(edges)) - np.min(-np.log(p / np.diff(edges))), pmf.f, atol=1e-6)


def test_mbar_window_free_energies_match_harmonic_closed_form():
    # V = a x^2 / 2 and U_k = kappa (x - c_k)^2 / 2 with kT = 1: f_k = a kappa c_k^2 / (2 (a + kappa)) + const.
    a, kappa = 4.0, 10.0
    rng = np.random.default_rng(1)
    centres = um.window_centres(-1.0, 1.0, 7)
    xi, win = exact_biased_samples(lambda x: 0.5 * a * x**2, centres, kappa, 2000, rng)
    pmf = um.mbar_pmf(xi, win, centres, kappa, 1.0, np.linspace(-1.5, 1.5, 31))
    expected = a * kappa * centres**2 / (2 * (a + kappa))
    expected -= expected[0]
    np.testing.assert_allclose(pmf.f_k, expected, atol=0.08)
    edges = pmf.edges
    exact = bin_average_pmf(lambda x: 0.5 * a * x**2, edges)
    assert um.pmf_rmse(pmf.f, exact, exact < 6) < 0.15


def test_estimators_respect_kT():
    # The same reduced problem at kT = 2.5 with kappa scaled by kT gives the same profile.
    rng = np.random.default_rng(2)
    centres = um.window_centres(-1.2, 1.2, 9)
    kappa = um.auto_kappa(centres, kT=1.0)
    xi, win = exact_biased_samples(double_well, centres, kappa, 800, rng)
    edges = np.linspace(-1.3, 1.3, 21)
    p1 = um.mbar_pmf(xi, win, centres, kappa, 1.0, edges)
    p2 = um.mbar_pmf(xi, win, centres, 2.5 * kappa, 2.5, edges)
    np.testing.assert_allclose(p1.f, p2.f, atol=1e-6)


def test_overlap_warning_names_the_gap():
    rng = np.random.default_rng(3)
    centres = np.array([-1.0, -0.9, 0.9, 1.0])
    kappa = 400.0
    xi, win = exact_biased_samples(lambda x: 0.0 * x, centres, kappa, 300, rng)
    with pytest.warns(UserWarning, match="1-2"):
        pmf = um.mbar_pmf(xi, win, centres, kappa, 1.0, np.linspace(-1.2, 1.2, 25))
    nb = um.neighbour_overlaps(pmf.overlap)
    assert nb[1] < 0.03 < nb[0]
    hist = um.histogram_overlap(xi, win, 4)
    assert hist[1] < 0.01 < hist[0]


def test_bias_force_is_minus_gradient_of_bias_linear_and_latent():
    torch.manual_seed(0)
    x = torch.randn(16, 3)
    centre = torch.randn(16)
    kappa = 7.5
    encoder = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))

    class Model:
        def encode(self, s):
            return encoder(s)

    for cv in (um.LinearCV([1.0, -2.0, 0.5], origin=[0.1, 0.2, 0.3]), um.LatentCV(Model(), [1.0, 0.0, 2.0, -1.0])):
        xr = x.clone().requires_grad_(True)
        u = um.harmonic_bias(cv.value(xr), centre, kappa).sum()
        (grad,) = torch.autograd.grad(u, xr)
        force = um.bias_force(x, cv, centre, kappa)
        torch.testing.assert_close(force, -grad, rtol=1e-5, atol=1e-5)
    # Finite differences on the linear CV too (independent of autograd).
    cv = um.LinearCV([0.6, -0.8, 0.0])
    x64 = x.double()
    cv64 = um.LinearCV(np.array([0.6, -0.8, 0.0]))
    cv64.direction, cv64.origin = cv64.direction.double(), cv64.origin.double()
    eps = 1e-6
    f = um.bias_force(x64, cv64, centre.double(), kappa)
    for j in range(3):
        dx = torch.zeros_like(x64)
        dx[:, j] = eps
        up = um.harmonic_bias(cv64.value(x64 + dx), centre.double(), kappa)
        dn = um.harmonic_bias(cv64.value(x64 - dx), centre.double(), kappa)
        torch.testing.assert_close(f[:, j], -(up - dn) / (2 * eps), rtol=1e-5, atol=1e-6)
    assert cv.grad(x).shape == x.shape


def test_statistical_inefficiency_of_ar1_and_subsampling():
    rng = np.random.default_rng(4)
    phi, t_len = np.exp(-1 / 10), 20000
    x = np.zeros((t_len, 2))
    eps = rng.standard_normal((t_len, 2))
    for t in range(1, t_len):
        x[t] = phi * x[t - 1] + eps[t]
    g_true = (1 + phi) / (1 - phi)  # ~ 20
    g = um.statistical_inefficiency(x[:, 0])
    assert 0.7 * g_true < g < 1.3 * g_true
    assert um.statistical_inefficiency(np.ones(100)) == 1.0
    t_idx, n_idx = um.subsample_chains(x, discard=100)
    per_chain = np.bincount(n_idx)
    assert np.all(per_chain < (t_len - 100) / (0.7 * g_true)) and np.all(per_chain > (t_len - 100) / (1.5 * g_true))
    assert t_idx.min() >= 100


def test_windows_assignment_and_validation():
    w = um.assign_windows(10, 3)
    assert w.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="num_copies"):
        um.assign_windows(2, 3)
    assert um.auto_kappa(np.array([0.0, 0.5, 1.0]), kT=2.0) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="empty windows"):
        um.mbar_pmf(np.zeros(5), np.zeros(5, dtype=int), np.array([0.0, 1.0]), 1.0, 1.0, np.linspace(-1, 1, 5))


def test_pmf_by_quadrature_separable_potential():
    # V = x^2/2 + 2 y^2, CV = x: the PMF is x^2/2 (kT = 1) up to binning.
    edges = np.linspace(-2, 2, 21)
    f = um.pmf_by_quadrature(lambda p: 0.5 * p[:, 0] ** 2 + 2 * p[:, 1] ** 2, [1.0, 0.0],
                             ((-4, 4), (-3, 3)), edges, kT=1.0, grid=600)
    np.testing.assert_allclose(f, bin_average_pmf(lambda x: 0.5 * x**2, edges), atol=0.02)
    # A direction at 45 degrees on an isotropic potential gives the same profile.
    g = um.pmf_by_quadrature(lambda p: 0.5 * (p**2).sum(1), [1.0, 1.0], ((-5, 5), (-5, 5)), edges, 1.0, 800)
    np.testing.assert_allclose(g, bin_average_pmf(lambda x: 0.5 * x**2, edges), atol=0.03)


def test_histogram_pmf_and_rmse_shift_invariance():
    rng = np.random.default_rng(5)
    edges = np.linspace(-3, 3, 13)
    p = um.histogram_pmf(rng.standard_normal(200000), edges)
    exact = bin_average_pmf(lambda x: 0.5 * x**2, edges)
    assert um.pmf_rmse(p.f, exact) < 0.05
    assert um.pmf_rmse(exact + 3.0, exact) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(um.pmf_rmse(np.full(3, np.nan), np.zeros(3)))


def test_umbrella_preset_runs_at_debug_size(tmp_path):
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve("umbrella-muller-brown", ["logging.wandb=disabled"], debug=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a debug-size run may not overlap everywhere
        summary, run_dir = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    for key in ("pmf_rmse_kT", "unbiased_pmf_rmse_kT", "bins_covered", "unbiased_bins_covered", "cv_direction",
                "kT"):
        assert key in summary, key
    pmf = summary["pmf"]
    assert set(pmf) >= {"centres", "estimate", "uncertainty", "unbiased", "exact"}
    assert len(pmf["centres"]) == len(pmf["estimate"]) == len(pmf["exact"]) == cfg.umbrella.bins
    assert summary["env_steps"] == cfg.run.steps * cfg.env.num_envs
    assert np.linalg.norm(summary["cv_direction"]) == pytest.approx(1.0)
    # Even at debug size the windows reach bins that plain dynamics from minimum A does not.
    assert summary["bins_covered"] > summary["unbiased_bins_covered"]
    assert (run_dir / "pmf.png").is_file() and (run_dir / "window_maps.png").is_file()
