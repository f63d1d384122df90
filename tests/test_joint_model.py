"""The conditional-generation metric and the dynamics-ensemble baseline."""
from __future__ import annotations

import torch

from freeenergy.dynamics_ensemble import DynamicsEnsemble
from freeenergy.metrics import conditional_energy_distance


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
