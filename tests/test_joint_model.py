"""The conditional-generation metric and the dynamics-ensemble baseline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from freeenergy.dynamics_ensemble import DynamicsEnsemble
from freeenergy.metrics import conditional_energy_distance

ROOT = Path(__file__).resolve().parents[1]


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


def _joint_model_benchmark():
    spec = importlib.util.spec_from_file_location("joint_model_bench", ROOT / "benchmarks" / "joint_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_joint_model_held_out_conditions_reach_the_noisy_tv():
    jm = _joint_model_benchmark()
    held = jm.rollouts("noisytv", copies=16, steps=40, seed=1)
    assert held["tv"].any()
    cut = jm.novel_cut(held["xy"][:, 0].float())
    picks = jm.pick_conditions(held, cut, n=5, seed=0)
    assert set(picks) == {"familiar", "novel", "tv"} and all(len(i) == 5 for i in picks.values())
    assert bool(held["tv"][torch.as_tensor(picks["tv"])].all())
    cond = {k: v[torch.as_tensor(picks["tv"])] for k, v in held.items()}
    truth = jm.true_next("noisytv", cond, k=32, seed=2)
    # The TV's channels (the last noise_dim) of the true next observations are fresh uniform noise per draw.
    tv = truth[..., -4:]
    assert truth.shape[:2] == (5, 32) and float(tv.min()) >= 0.0 and float(tv.max()) < 1.0
    assert float(tv.std(1).min()) > 0.15 and float(truth[..., :-4].std(1).max()) == 0.0
    # Worlds without a TV get no tv split, and their rollouts keep their env's own start.
    dark = jm.rollouts("darkroom", copies=4, steps=10, seed=1)
    assert "tv" not in jm.pick_conditions(dark, jm.novel_cut(dark["xy"][:, 0].float()), n=3, seed=0)
