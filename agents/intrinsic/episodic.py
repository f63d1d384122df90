"""Episodic novelty (E3B, Henaff et al. 2022; NGU, Badia et al. 2020) on top of any source.

Each copy keeps the inverse of its episode's feature covariance ``C = ridge * I +
sum phi phi^T`` over the states it met since its episode began; a next observation
with features ``phi`` earns the elliptical bonus ``b = phi^T C^-1 phi`` (large where
the copy has not been in this episode), and the reward is the inner source's
lifelong score times ``b`` (NGU multiplies the two). Each copy keeps moving to new
ground of its own, so copies that share one policy still part ways.
``C^-1`` is updated one step at a time by the Sherman-Morrison formula; an
episode's end (``Transitions.dones``) clears it. Features: the world model's input
features of the next observation when the inner source has a world model (with
``agent.online.fourier`` they keep neighbouring places apart), else the next
observation whitened by running statistics.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.encoding import RunningNorm
from agents.intrinsic.base import IntrinsicSource, Transitions
from agents.protocol import Metrics


class EpisodicNovelty(IntrinsicSource):
    """``inner`` score times the per-copy elliptical episodic bonus.

    Args:
        inner: the lifelong source.
        num_envs: copies ``N`` (each has its own episode memory).
        obs_dim: observation width (features when ``inner`` has no world model).
        ridge: ``C``'s start, ``ridge * I``.
        device: where the memories live.
    """

    def __init__(self, inner: IntrinsicSource, *, num_envs: int, obs_dim: int, ridge: float = 0.1,
                 device: torch.device | str = "cpu") -> None:
        if ridge <= 0:
            raise ValueError(f"ridge={ridge} is invalid: expected a number > 0")
        self.inner, self.num_envs, self.ridge = inner, int(num_envs), float(ridge)
        self.device = torch.device(device)
        self.world = inner.world
        self.trains_in_minibatches = inner.trains_in_minibatches
        self.norm = RunningNorm(obs_dim, self.device)
        dim = (self.world.encoder.feature_dim if self.world is not None else int(obs_dim)) + 1
        self.eye = torch.eye(dim, device=self.device)
        self.c_inv = self.eye.expand(self.num_envs, dim, dim) / self.ridge
        self.last_bonus: Tensor | None = None

    @property
    def free_energy(self) -> Tensor | None:  # type: ignore[override]
        return self.inner.free_energy

    def _features(self, next_obs: Tensor) -> Tensor:
        """``(B, F + 1)``: the features and a constant 1 (else the mean observation, at 0, earns nothing)."""
        if self.world is not None:
            enc = self.world.encoder
            phi = enc.features(enc.normalise_obs(next_obs))
        else:
            phi = self.norm.normalise(next_obs)
        return torch.cat([phi, torch.ones_like(phi[:, :1])], 1)

    @torch.no_grad()
    def _episodic(self, batch: Transitions, remember: bool) -> Tensor:
        """``(B,)`` bonus of each next observation against its copy's episode so far (step order)."""
        n = self.num_envs
        phi = self._features(torch.as_tensor(batch.next_obs, device=self.device).float())
        phi = phi.reshape(-1, n, self.eye.shape[0])
        dones = None if batch.dones is None else torch.as_tensor(batch.dones, device=self.device).reshape(-1, n)
        c_inv, out = self.c_inv, []
        for t in range(phi.shape[0]):
            u = torch.einsum("nij,nj->ni", c_inv, phi[t])
            b = (phi[t] * u).sum(1)
            out.append(b)
            c_inv = c_inv - u[:, :, None] * u[:, None, :] / (1 + b)[:, None, None]
            if dones is not None:  # a new episode starts after this step
                c_inv = torch.where(dones[t][:, None, None], self.eye / self.ridge, c_inv)
        if remember:
            self.c_inv = c_inv
        return torch.cat(out)

    def warm(self, batch: Transitions) -> None:
        self.norm.update(batch.next_obs)
        self.inner.warm(batch)

    def score(self, batch: Transitions) -> Tensor:
        lifelong = self.inner.score(batch)
        self.last_bonus = self._episodic(batch, remember=True)
        self.norm.update(batch.next_obs)
        return lifelong * self.last_bonus

    def peek(self, batch: Transitions) -> Tensor:
        return self.inner.peek(batch) * self._episodic(batch, remember=False)

    def learn(self, steps: int) -> Metrics:
        out = self.inner.learn(steps)
        if self.last_bonus is not None:
            out["bonus/episodic"] = self.last_bonus.mean()
        return out

    def minibatch(self, idx: Tensor) -> dict[str, Tensor]:
        return self.inner.minibatch(idx)

    def restarted(self, mask: Tensor) -> None:
        """Copies ``mask`` were put elsewhere: their episodes begin again."""
        self.c_inv = torch.where(mask.to(self.device)[:, None, None], self.eye / self.ridge, self.c_inv)

    def state_dict(self) -> dict:
        return {"inner": self.inner.state_dict(), "c_inv": self.c_inv.cpu(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.inner.load_state_dict(state["inner"])
        self.c_inv = state["c_inv"].to(self.device)
        self.norm.load_state_dict(state["norm"])


def with_episodic(source: IntrinsicSource, options: Any, *, num_envs: int, obs_dim: int,
                  device: torch.device) -> IntrinsicSource:
    """``source`` wrapped in :class:`EpisodicNovelty` when ``options.on`` (``agent.intrinsic.episodic``)."""
    if options is None or not options.on:
        return source
    return EpisodicNovelty(source, num_envs=num_envs, obs_dim=obs_dim, ridge=options.ridge, device=device)
