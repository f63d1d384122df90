"""Rare-state biasing: unbiased importance-weighted losses, the planner bias, rare-cell bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.rare_state import RareStateBias, rare_cells, rare_visits
from agents.replay import ReplayBuffer
from freeenergy import umbrella as um


def biased_pool(rng, centres, kappa, n):
    """Exact draws from q_k ~ N(0,1) * exp(-kappa/2 (x - c_k)^2): N(kappa c/(1+kappa), 1/(1+kappa))."""
    xs, ws = [], []
    for k, c in enumerate(centres):
        xs.append(rng.normal(kappa * c / (1 + kappa), np.sqrt(1 / (1 + kappa)), n))
        ws.append(np.full(n, k))
    return torch.tensor(np.concatenate(xs)), torch.tensor(np.concatenate(ws))


def test_importance_weighted_loss_is_unbiased_on_a_toy():
    rng = np.random.default_rng(0)
    centres, kappa = torch.tensor([-1.5, 0.0, 1.5, 3.0]), 2.0
    x, win = biased_pool(rng, centres.numpy(), kappa, 4000)

    def loss(v):  # per-sample loss of a toy model with parameter 0.3; E_p[loss] = 1 + 0.09 under p = N(0, 1)
        return (v - 0.3) ** 2

    truth = 1.09
    w, f_k = um.unbiasing_weights(x, win, centres, kappa)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-5)
    weighted = float((w.double() * loss(x)).mean())
    plain = float(loss(x).mean())
    assert abs(weighted - truth) < 0.06
    assert abs(plain - truth) > 0.4  # the biased pool really is biased
    # The window free energies match the closed form kappa c^2 / (2 (1 + kappa)) (relative to window 0).
    exact = (kappa * centres**2 / (2 * (1 + kappa))).numpy()
    np.testing.assert_allclose(f_k.numpy(), exact - exact[0], atol=0.08)
    # Through the replay buffer: uniform draws, per-batch self-normalised weights (as the world model's fit does).
    replay = ReplayBuffer(x.numel(), 1)
    replay.add(x.float()[:, None], w)
    gen = torch.Generator().manual_seed(0)
    est = []
    for _ in range(400):
        rows, wb, _ = replay.sample(256, gen)
        wb = wb / wb.mean()
        est.append(float((wb * loss(rows[:, 0])).mean()))
    assert abs(np.mean(est) - truth) < 0.06


def test_unbiasing_weights_for_later_rows_match_the_pool():
    rng = np.random.default_rng(1)
    centres, kappa = torch.tensor([-1.0, 0.0, 1.0]), 3.0
    x, win = biased_pool(rng, centres.numpy(), kappa, 2000)
    n_k = torch.bincount(win).double()
    raw, f_k = um.unbiasing_weights(x, win, centres, kappa, n_k=n_k, normalise=False)
    norm, _ = um.unbiasing_weights(x, win, centres, kappa, f_k=f_k)
    torch.testing.assert_close(norm, raw / raw.mean(), rtol=1e-4, atol=1e-6)
    # A new row is weighted with the pool's f_k and counts, whatever batch it arrives in.
    one, _ = um.unbiasing_weights(x[:1], win[:1], centres, kappa, f_k=f_k, n_k=n_k, normalise=False)
    torch.testing.assert_close(one, raw[:1])


class FakeRollout:
    def __init__(self, surprise):
        self.surprise = surprise


def test_score_bias_pulls_each_window_to_its_centre():
    rb = RareStateBias(num_envs=4, windows=2, kappa_factor=1.0, weight=2.0, fe_quantiles=(0.0, 1.0), refresh=1)
    assert rb.window_n.tolist() == [0, 0, 1, 1]
    fe = torch.linspace(0, 1, 5)[None, :, None].expand(4, 5, 3)  # (N, C, H)
    assert torch.equal(rb.score_bias(FakeRollout(fe)), torch.zeros(4, 5))  # no windows yet
    # Windows are placed on the imagined free energies the planner has seen (here 0..1).
    rb._fe = torch.linspace(0.0, 5.0, 101)
    rb._win = torch.zeros(101, dtype=torch.long)
    rb._recentre()
    torch.testing.assert_close(rb.centres, torch.tensor([0.0, 1.0]))
    assert rb.kappa == pytest.approx(1.0)
    bias = rb.score_bias(FakeRollout(fe))
    assert bias.shape == (4, 5)
    assert bias[0].argmin() == 0 and bias[3].argmin() == 4  # low window prefers low F, high window high F
    # Summed over the 3 imagined steps, like the planning cost: weight * kappa/2 * (1 - 0)^2 * 3.
    assert bias[0, 4].item() == pytest.approx(2.0 * 0.5 * 1.0 * 1.0**2 * 3)
    with pytest.raises(ValueError, match="windows"):
        RareStateBias(num_envs=2, windows=3)


def test_rare_cells_and_visits():
    ref = torch.tensor([50, 0, 3, 7, 1, 9, 0, 20, 5, 8, 30, 2])
    reach = torch.ones(12, dtype=torch.bool)
    reach[1] = False  # an unreachable cell never counts, even with zero visits
    mask = rare_cells(ref, reach, fraction=0.2)  # 11 reachable -> 3 cells: 0, 1, 2 visits
    assert np.flatnonzero(mask).tolist() == [4, 6, 11]
    counts = torch.arange(12)
    assert rare_visits(counts, mask) == 4 + 6 + 11
    assert rare_visits(counts.reshape(3, 4), mask) == 21


def test_maze_umbrella_preset_runs_at_debug_size(tmp_path):
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve("maze-umbrella-afe", ["logging.wandb=disabled", "umbrella.reset_fraction=0.5",
                                        "umbrella.refresh=5", "run.steps=20"], debug=True)
    summary, _ = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    for key in ("rare_visits", "rare_visit_share", "rare_cells", "random_rare_visits", "coverage",
                "umbrella_restarts", "umbrella_weight_ess_fraction"):
        assert key in summary, key
    assert summary["umbrella_restarts"] > 0  # copies were put back at rare states through set_state
    assert 0 < summary["umbrella_weight_ess_fraction"] <= 1
    assert summary["rare_cells"] > 0
