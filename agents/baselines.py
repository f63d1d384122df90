"""Baselines to measure exploration against: random actions, exact counts, RND.

- :class:`RandomAgent`: uniform actions (the floor).
- :class:`CountSurprise`: ``1 / sqrt(n(cell))`` of the map cell reached, from
  exact visitation counts (an oracle on grid worlds: it knows the cells).
- :class:`RNDSurprise`: random network distillation (Burda et al. 2018): the
  error of a trained predictor against a fixed random network on the
  (normalised) next observation.

Both surprise sources plug into :class:`agents.bonus.BonusTransform`, so they
reach stable-baselines3 through the same wrapper as the world-model bonus.
"""
from __future__ import annotations

from typing import Callable

import torch
from gymnasium import spaces
from torch import Tensor, nn

from agents.encoding import RunningNorm
from agents.replay import ReplayBuffer


class RandomAgent:
    """Uniformly random actions for ``num_envs`` copies (``act``/``observe``/``update`` no-ops)."""

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

    def observe(self, obs: Tensor, actions: Tensor, next_obs: Tensor, done: Tensor | None = None,
                weights: Tensor | None = None) -> None:
        """Counts the step; a random agent has no model, so no free energy to report."""
        self.steps += 1

    def update(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.steps = int(state["steps"])


class CountSurprise:
    """``1 / sqrt(n)`` bonus from exact counts of the map cell of ``obs_t+1``.

    Args:
        map_cells: ``(B, 2) map_xy -> (B,)`` cell indices (an env's ``map_cells``).
        num_cells: number of cells.
        device: where counts live.
    """

    def __init__(self, map_cells: Callable[[Tensor], Tensor], num_cells: int,
                 device: torch.device | str = "cpu") -> None:
        self.map_cells = map_cells
        self.device = torch.device(device)
        self.counts = torch.zeros(int(num_cells), device=self.device)

    def surprise(self, obs: Tensor, actions: Tensor, next_obs: Tensor,
                 map_xy: Tensor | None = None) -> Tensor:
        if map_xy is None:
            raise ValueError("the count bonus needs map_xy of each next observation (info['map_xy'])")
        cells = self.map_cells(map_xy).to(self.device).long()
        self.counts += torch.bincount(cells, minlength=self.counts.numel()).float()
        return self.counts[cells].rsqrt()

    def learn(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"counts": self.counts.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].to(self.device)


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o))


class RNDSurprise(nn.Module):
    """Random network distillation on normalised next observations.

    Args:
        obs_dim: observation width.
        hidden: width of both networks.
        out_dim: embedding width.
        lr: predictor learning rate.
        batch_size: rows per predictor step, drawn from a replay of recent observations.
        fit_ratio: predictor steps per env step.
        replay_capacity: observations kept.
        device: where everything lives.
    """

    def __init__(self, obs_dim: int, hidden: int = 64, out_dim: int = 16, lr: float = 1e-3,
                 batch_size: int = 128, fit_ratio: int = 1, replay_capacity: int = 50_000,
                 device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.device = torch.device(device)
        self.target = _mlp(obs_dim, hidden, out_dim)
        self.predictor = _mlp(obs_dim, hidden, out_dim)
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.to(self.device)
        self.norm = RunningNorm(obs_dim, self.device, std_floor=0.05)
        self.replay = ReplayBuffer(replay_capacity, obs_dim, self.device)
        self.opt = torch.optim.Adam(self.predictor.parameters(), lr=lr)
        self.batch_size = int(batch_size)
        self.fit_ratio = int(fit_ratio)

    def _error(self, obs: Tensor) -> Tensor:
        z = self.norm.normalise(obs).clamp(-5, 5)
        return (self.predictor(z) - self.target(z)).pow(2).mean(-1)

    def surprise(self, obs: Tensor, actions: Tensor, next_obs: Tensor,
                 map_xy: Tensor | None = None) -> Tensor:
        nxt = next_obs.to(self.device, torch.float32).reshape(next_obs.shape[0], -1)
        self.norm.update(nxt)
        self.replay.add(nxt)
        with torch.no_grad():
            return self._error(nxt)

    def learn(self) -> dict[str, float]:
        loss = torch.zeros(())
        for _ in range(self.fit_ratio):
            rows, _, _ = self.replay.sample(self.batch_size)
            loss = self._error(rows).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return {"rnd/loss": float(loss.detach())}

    def state_dict(self, *args, **kwargs) -> dict:  # type: ignore[override]
        return {"nets": super().state_dict(), "opt": self.opt.state_dict(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict, strict: bool = True):  # type: ignore[override]
        super().load_state_dict(state["nets"], strict)
        self.opt.load_state_dict(state["opt"])
        self.norm.load_state_dict(state["norm"])
