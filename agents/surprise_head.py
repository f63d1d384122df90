"""An amortised estimate of the free energy that an action will meet in a state.

The world model's free energy of *real* transitions includes what no model can
predict (noise, flicker); the free energy of a transition the model *imagines*
does not, because the model's own completion is what it codes best. The
surprise head closes the gap: a small regression net ``S(obs_t, action_t)``
trained on the world model's free energy of the transitions actually met
(read from replay), so a planner can ask "how surprised will I be if I do a
here?" for every candidate at once.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from agents.objective import Objective


class SurpriseHead(nn.Module):
    """``S(obs, action) -> (B,)`` >= 0, regressed on observed free energy.

    Args:
        in_dim: width of ``[obs_t, action_t]`` in the joint encoding.
        hidden: width of the two hidden layers.
        lr: Adam learning rate.
        device: where it lives.
    """

    def __init__(self, in_dim: int, hidden: int = 64, lr: float = 1e-3, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1), nn.Softplus())
        self.to(device)
        self.opt = torch.optim.Adam(self.parameters(), lr=lr)

    def forward(self, known: Tensor) -> Tensor:
        """``(B, in_dim) -> (B,)`` predicted free energy."""
        return self.net(known).squeeze(-1)

    @torch.no_grad()
    def bootstrap(self, next_obs: Tensor, num_actions: int, objective: Objective) -> Tensor:
        """``best_a' S(next_obs, a')`` over one-hot discrete actions (the agent's ``objective``): ``(B, O) -> (B,)``."""
        b = next_obs.shape[0]
        eye = torch.eye(num_actions, device=next_obs.device)
        rows = torch.cat([next_obs.repeat_interleave(num_actions, 0), eye.repeat(b, 1)], dim=1)
        values = self(rows).view(b, num_actions)
        return objective.best(values, 1)

    def fit_step(self, known: Tensor, target: Tensor) -> Tensor:
        """One regression step towards ``target`` ``(B,)``; returns the squared error (0-d, on the device)."""
        loss = (self(known) - target.detach()).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()
