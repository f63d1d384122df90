"""The world model's own epistemic estimate in the agents' surprise terms."""
from __future__ import annotations

import torch

from agents.terms import StepPrediction, aleatoric_surprise, all_surprise_terms, epistemic_surprise, model_epistemic


class _Novelty:
    """A stand-in world model whose epistemic estimate is the first entry of each row."""

    def epistemic(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


def test_a_world_models_own_estimate_is_the_epistemic_term_and_leaves_aleatoric_alone():
    comp = torch.tensor([[[[0.0, 1.0], [0.0, 2.0]]], [[[0.0, 3.0], [0.0, 2.0]]]])  # (E=2, M=1, B=2, D=2)
    fe = torch.tensor([[[2.0, 1.0]], [[2.0, 1.0]]])
    plain = StepPrediction(comp, fe, slice(1, 2))
    own = StepPrediction(comp, fe, slice(1, 2), epistemic=torch.tensor([0.3, 0.7]))
    assert torch.allclose(epistemic_surprise(plain), torch.tensor([1.0, 0.0]))  # disagreement: var of {1, 3}
    assert torch.allclose(epistemic_surprise(own), torch.tensor([0.3, 0.7]))
    assert torch.allclose(aleatoric_surprise(own), aleatoric_surprise(plain))  # total - disagreement, both
    assert torch.allclose(all_surprise_terms(own)["epistemic"], torch.tensor([0.3, 0.7]))


def test_model_epistemic_averages_members_and_draws():
    # Two members, two draws of three rows, draw-major: row b of draw m is row m * 3 + b.
    comp = torch.arange(24, dtype=torch.float32).view(2, 6, 2)
    got = model_epistemic([_Novelty(), _Novelty()], comp, draws=2)
    first = comp[..., 0].view(2, 2, 3)
    torch.testing.assert_close(got, first.mean((0, 1)))
    assert model_epistemic([_Novelty(), object()], comp, draws=2) is None
