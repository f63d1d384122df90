"""Clamped completion trained as a conditional sampler (energy score), and the RAE-GMM's code novelty."""
from __future__ import annotations

import pytest
import torch

from freeenergy.conditional import clamped_chain, conditional_score, energy_score
from freeenergy.models import build_world_model


def test_energy_score_prefers_the_true_distribution():
    g = torch.Generator().manual_seed(0)
    n = 20000
    y = torch.randn((n, 2), generator=g)  # the truth: N(0, I)

    def mean_score(draw) -> float:
        return float(energy_score(draw(), draw(), y).mean())

    true = mean_score(lambda: torch.randn((n, 2), generator=g))
    point = mean_score(lambda: torch.zeros(n, 2))  # the mean, no spread
    narrow = mean_score(lambda: 0.5 * torch.randn((n, 2), generator=g))
    shifted = mean_score(lambda: torch.randn((n, 2), generator=g) + 0.5)
    assert true < narrow - 0.02 and true < point - 0.1 and true < shifted - 0.05
    same = torch.ones(3, 2)
    assert float(energy_score(same, same, same).abs().max()) < 1e-5


def test_clamped_chain_writes_the_condition_back_every_pass():
    seen = []

    def step(h):
        seen.append(h.clone())
        return h * 2.0 + 1.0

    known, start = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5]])
    outs = clamped_chain(step, known, start, passes=3)
    assert [float(u) for u in outs] == [2.0, 5.0, 11.0]
    assert all(torch.equal(h[:, :2], known) for h in seen)
    with pytest.raises(ValueError, match="condition_dim"):
        conditional_score(step, torch.zeros(4, 3), 3, 1)


def _bimodal(n: int, g: torch.Generator) -> torch.Tensor:
    """``x = [c, u]``: ``c ~ U(-1, 1)``, ``u = c + s`` with ``s = +-1`` (fair coin): two outcomes per condition."""
    c = torch.rand((n, 1), generator=g) * 2 - 1
    s = torch.randint(0, 2, (n, 1), generator=g).float() * 2 - 1
    return torch.cat([c, c + s], 1)


@pytest.mark.parametrize("condition_dim", [0, 1])
def test_rae_samples_a_random_outcome_instead_of_averaging(condition_dim):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = build_world_model("rae", 2, hidden=[48, 48], code_dim=4, passes=2, sigma=0.1, lr=3e-3,
                              condition_dim=condition_dim, complete_steps=1 if condition_dim else 0)
    for _ in range(400):
        model.fit_step(_bimodal(256, g))
    c = torch.tensor([[-0.5], [0.0], [0.5]]).repeat_interleave(400, 0)
    x = torch.cat([c, torch.zeros_like(c)], 1)
    u = model.complete(x, torch.tensor([True, False]), generator=torch.Generator().manual_seed(2))[:, 1:]
    off = (u - c).view(3, 400)  # per condition
    # The rarer outcome's share, for the condition where it is rarest.
    both_modes = float(torch.minimum(((off - 1).abs() < 0.35).float().mean(1),
                                     ((off + 1).abs() < 0.35).float().mean(1)).min())
    if condition_dim:  # each outcome drawn about half the time; the average (offset 0) rarely
        assert both_modes > 0.3 and float((off.abs() < 0.35).float().mean()) < 0.15
    else:  # joint reconstruction alone: the chain projects its start onto one outcome
        assert both_modes < 0.1


def test_rae_gmm_epistemic_rises_off_the_data():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build_world_model("rae_gmm", 2, hidden=[32], code_dim=2, passes=2, sigma=0.05, lr=3e-3,
                              prior_components=2, prior_points=2000)
    # Before any rows there is nothing to be novel against: no bonus rather than a crash.
    assert torch.equal(model.epistemic(torch.zeros(3, 2)), torch.zeros(3))
    for _ in range(300):
        model.fit_step(torch.rand((128, 2), generator=g))  # the unit square
    near = model.epistemic(torch.rand((200, 2), generator=g))
    far = model.epistemic(torch.rand((200, 2), generator=g) + torch.tensor([3.0, 0.0]))
    assert near.shape == (200,) and float(far.mean()) > 5 * float(near.mean())
    # With a mask, the unknown entry is completed first: novelty of the condition's completions.
    masked = model.epistemic(torch.tensor([[0.5, 0.0], [4.0, 0.0]]), torch.tensor([True, False]))
    assert masked.shape == (2,) and float(masked[1]) > 3 * float(masked[0])
