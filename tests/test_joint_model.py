"""The conditional-generation metric, the dynamics-ensemble baseline and the WAE-MMD variant."""
from __future__ import annotations

import torch

from freeenergy.dynamics_ensemble import DynamicsEnsemble
from freeenergy.metrics import conditional_energy_distance
from freeenergy.rae_mmd import RAEMMD, mmd_imq
from freeenergy.world_model import WorldModel


def test_conditional_energy_distance_separates_correct_from_shifted_predictor():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn((20, 1, 3), generator=g) * 3
    true = centres + torch.randn((20, 64, 3), generator=g)
    correct = centres + torch.randn((20, 64, 3), generator=g)
    shifted = correct + 1.0
    deterministic = centres.expand(20, 64, 3)  # right mean, no spread
    ed = {k: conditional_energy_distance(p, true) for k, p in
          {"correct": correct, "shifted": shifted, "mean": deterministic}.items()}
    assert ed["correct"].shape == (20,)
    assert ed["shifted"].mean() > 5 * ed["correct"].mean()
    assert ed["mean"].mean() > 3 * ed["correct"].mean()
    assert float(conditional_energy_distance(true, true).max()) == 0.0


def test_ensemble_learns_a_noisy_map_and_disagrees_off_the_data():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    ens = DynamicsEnsemble(in_dim=1, out_dim=1, members=3, hidden=(32,), lr=1e-2)
    for _ in range(300):
        inp = torch.rand((128, 1), generator=g)
        ens.fit_step(inp, 2 * inp + 0.3 * torch.randn((128, 1), generator=g))
    s = ens.sample(torch.full((4000, 1), 0.5), g)
    assert abs(float(s.mean()) - 1.0) < 0.1 and abs(float(s.std()) - 0.3) < 0.1
    near, far = ens.disagreement(torch.tensor([[0.5]])), ens.disagreement(torch.tensor([[6.0]]))
    assert far > 10 * near


def test_mmd_imq_is_small_for_the_same_distribution_and_large_for_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn((400, 4), generator=g), torch.randn((400, 4), generator=g)
    assert abs(float(mmd_imq(a, b, 8.0))) < 0.01
    assert float(mmd_imq(a + 1.5, b, 8.0)) > 0.1


def test_rae_mmd_trains_and_round_trips(tmp_path):
    torch.manual_seed(0)
    m = RAEMMD(3, hidden=[16], code_dim=4, mmd_weight=5.0, mmd_points=32)
    x = torch.randn(64, 3)
    out = m.fit_step(x)
    assert "code_mmd" in out and out["loss"] > out["reconstruction"]
    m.save(tmp_path / "m.pt")
    back = WorldModel.load(tmp_path / "m.pt")
    assert type(back) is RAEMMD and back.mmd_weight == 5.0
    gen = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    assert torch.equal(m.sample(8, generator=gen()), back.sample(8, generator=gen()))
