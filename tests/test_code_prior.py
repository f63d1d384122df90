"""The ex-post code prior: mixture fit, sampling in torch, persistence, rae_gmm's lazy refit, support metric."""
from __future__ import annotations

import numpy as np
import torch

from freeenergy.code_prior import GaussianMixturePrior
from freeenergy.data import parabola
from freeenergy.metrics import support_fraction
from freeenergy.models import build_world_model, load_world_model


def two_clusters(n: int = 2000) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    z = 0.1 * torch.randn((n, 3), generator=g)
    z[: n // 2, 0] += 2.0
    z[n // 2:, 0] -= 2.0
    return z


def test_mixture_finds_two_clusters_and_samples_them():
    prior = GaussianMixturePrior(code_dim=3, max_components=4)
    assert prior.components == 0
    prior.fit(two_clusters())
    assert prior.components >= 2
    s = prior.sample(4000, torch.Generator().manual_seed(1))
    assert s.shape == (4000, 3)
    left = (s[:, 0] < 0).float().mean()
    assert 0.45 < float(left) < 0.55
    assert float(s[:, 0].abs().sub(2).abs().mean()) < 0.15
    assert float(s[:, 1:].std()) < 0.15
    # The density is high on the clusters and low between them.
    lp = prior.log_prob(torch.tensor([[2.0, 0, 0], [0.0, 0, 0]]))
    assert lp[0] > lp[1] + 10


def test_mixture_projects_wide_codes_and_keeps_the_residual_scale():
    g = torch.Generator().manual_seed(0)
    z = torch.randn((3000, 40), generator=g) * 0.05
    z[:, :2] = torch.randn((3000, 2), generator=g) * 2
    prior = GaussianMixturePrior(code_dim=40, max_components=2, max_dim=4)
    prior.fit(z)
    s = prior.sample(3000, g)
    assert s.shape == (3000, 40)
    assert torch.allclose(s.std(0)[:2], torch.tensor([2.0, 2.0]), rtol=0.15)
    assert float(s[:, 4:].std()) < 0.08


def test_rae_gmm_fits_lazily_and_round_trips(tmp_path):
    torch.manual_seed(0)
    x = torch.from_numpy(parabola(600, seed=0))
    m = build_world_model("rae_gmm", 3, hidden=[16], code_dim=4, prior_components=3, prior_points=500,
                          prior_refit_every=5)
    assert not bool(m.code_prior.fitted)
    for _ in range(4):
        m.fit_step(x[:256])
    m.sample(10)  # never fitted: fits now, on the remembered rows
    assert bool(m.code_prior.fitted) and m._steps_since_fit == 0
    means = m.code_prior.means.clone()
    for _ in range(3):
        m.fit_step(x[256:])
    m.sample(10)  # 3 < prior_refit_every steps since the fit: no refit
    assert torch.equal(means, m.code_prior.means)
    for _ in range(2):
        m.fit_step(x[256:])
    m.sample(10)
    assert not torch.equal(means, m.code_prior.means)
    m.save(tmp_path / "m.pt")
    blob = torch.load(tmp_path / "m.pt", weights_only=True)
    assert "code_prior.chol" in blob["state_dict"] and "_seen" not in blob["state_dict"]
    back = load_world_model(tmp_path / "m.pt")
    assert type(back).__name__ == "RAEGMM" and back.code_prior.components == m.code_prior.components
    a = m.sample(50, generator=torch.Generator().manual_seed(3))
    b = back.sample(50, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-5)


def test_rae_gmm_without_data_falls_back_to_the_plain_prior():
    m = build_world_model("rae_gmm", 3, hidden=[8], code_dim=2)
    z = m.prior_codes(1000, torch.Generator().manual_seed(0))
    assert abs(float(z.std()) - 1) < 0.1 and not bool(m.code_prior.fitted)


def test_support_fraction_separates_fresh_from_shifted_data():
    train = parabola(3000, seed=0)
    fresh = parabola(1000, seed=1)
    far = fresh.copy()
    far[:, 2] += 2.0
    assert support_fraction(fresh, train) > 0.85
    assert support_fraction(far, train) < 0.3
    bad = fresh.copy()
    bad[:500] = np.nan
    assert support_fraction(bad, train) < 0.55
