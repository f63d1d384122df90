"""The floor every explorer is measured against: uniformly random actions.

Novelty baselines (exact counts, RND) are intrinsic sources
(:mod:`agents.intrinsic`), learned by the same PPO as the adversarial agent
(``agent.type: amortised``) or by stable-baselines3 through the bonus wrapper.
"""
from __future__ import annotations

import torch
from gymnasium import spaces
from torch import Tensor

from agents.protocol import Agent, Step


class RandomAgent(Agent):
    """Uniformly random actions for ``num_envs`` copies (nothing to learn)."""

    def __init__(self, action_space: spaces.Space, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> None:
        self.space = action_space
        self.device = torch.device(device)
        self.generator = generator
        self.steps = 0

    def act(self, obs: Tensor) -> Tensor:
        n = obs.shape[0]
        space = self.space
        if isinstance(space, spaces.Discrete):
            return torch.randint(int(space.n), (n,), device=self.device, generator=self.generator) + int(space.start)
        if isinstance(space, spaces.Box):
            low = torch.as_tensor(space.low, dtype=torch.float32, device=self.device).reshape(-1)
            high = torch.as_tensor(space.high, dtype=torch.float32, device=self.device).reshape(-1)
            u = torch.rand((n, low.numel()), device=self.device, generator=self.generator)
            return low + u * (high - low)
        raise TypeError(f"RandomAgent does not know action space {space}")

    def observe(self, step: Step) -> None:
        """Counts the step; a random agent has no model, so no free energy to report."""
        self.steps += 1

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])
