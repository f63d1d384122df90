"""Novelty search in the world model's space: a transition's distance to the archive and the population.

Lehman & Stanley (2011): the novelty of a behaviour is its mean distance to its
``k`` nearest neighbours among an archive of past behaviours and the current
population, so every member is pushed away from all the others and the
population spreads instead of herding. Here a behaviour is a transition, seen
through the online world model:

- ``space: code``: the code the world model's encoder gives the transition;
- ``space: input``: the model's input features of the next observation (with
  ``agent.online.fourier`` they keep neighbouring places apart, and a point's
  distance to its ``k`` nearest then falls to zero once a place has ``k``
  archived visits: a count of low visits, learned from nothing but the inputs).

The population is the rollout being scored (every copy, every step), the archive
a uniform reservoir sample of all transitions scored before (``archive`` rows,
:class:`freeenergy.knn_novelty.NoveltyArchive`). The archive keeps raw rows and
re-embeds them at each scoring, because codes move as the model learns. The world
model keeps learning its transitions (``learn``), so that its codes stay meaningful.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.intrinsic.base import IntrinsicSource, Transitions
from agents.online import OnlineWorldModel
from agents.protocol import Metrics
from freeenergy.knn_novelty import NoveltyArchive


class PopulationNovelty(IntrinsicSource):
    """kNN novelty of transitions against an archive and the current rollout.

    Args:
        world: the online world model whose codes (or inputs) the distances are measured in.
        options: :class:`agents.intrinsic.PopulationOptions` (``k``, ``archive``, ``space``).
        device: where the archive lives.
        generator: reservoir draws.
    """

    def __init__(self, *, world: OnlineWorldModel, options: Any, device: torch.device,
                 generator: torch.Generator | None = None) -> None:
        self.world, self.options = world, options
        self.archive = NoveltyArchive(world.encoder.raw_dim, capacity=options.archive, k=options.k, device=device,
                                      generator=generator)

    @classmethod
    def build(cls, *, world: OnlineWorldModel, options: Any, device: torch.device,
              generator: torch.Generator | None = None, **_: Any) -> PopulationNovelty:
        return cls(world=world, options=options, device=device, generator=generator)

    @torch.no_grad()
    def _embed(self, raw: Tensor) -> Tensor:
        enc = self.world.encoder
        x = enc.normalise_raw(raw)
        if self.options.space == "input":
            return x[:, enc.next_slice]
        return torch.cat([self.world.model.encode(block) for block in x.split(4096)])

    @torch.no_grad()
    def _novelty(self, raw: Tensor, population: bool) -> Tensor:
        pts = self._embed(raw)
        ref = NoveltyArchive(pts.shape[1], capacity=max(len(self.archive), 1), k=self.options.k, device=pts.device)
        if len(self.archive):
            ref.add(self._embed(self.archive.archive))
        return ref.score(pts, pts if population else None)

    def warm(self, batch: Transitions) -> None:
        self.world.observe(batch.obs, batch.actions, batch.next_obs)

    def score(self, batch: Transitions) -> Tensor:
        self.world.observe(batch.obs, batch.actions, batch.next_obs)
        raw = self.world.encoder.raw(batch.obs, batch.actions, batch.next_obs)
        out = self._novelty(raw, population=True)
        self.archive.add(raw)
        return out

    def peek(self, batch: Transitions) -> Tensor:
        return self._novelty(self.world.encoder.raw(batch.obs, batch.actions, batch.next_obs), population=False)

    def learn(self, steps: int) -> Metrics:
        return {f"world_model/{k}": v for k, v in self.world.fit(steps).items()}

    def state_dict(self) -> dict:
        return {"world": self.world.state_dict(), "archive": self.archive.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state["world"])
        self.archive.load_state_dict(state["archive"])
