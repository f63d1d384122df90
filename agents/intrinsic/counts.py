"""Exact visit counts as an intrinsic source: ``1 / sqrt(n)`` of the map cell reached.

An oracle on grid worlds (it is told the cells); the control every learned
novelty signal is measured against.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from agents.intrinsic.base import IntrinsicSource, Transitions


class CountBonus(IntrinsicSource):
    """``1 / sqrt(n(cell))`` of the cell of each next observation, counted in step order.

    Args:
        map_cells: ``(B, 2) map_xy -> (B,)`` cell indices (an env's ``map_cells``).
        num_cells: number of cells.
        device: where the counts live.
    """

    def __init__(self, *, map_cells: Callable[[Tensor], Tensor], num_cells: int, device: torch.device) -> None:
        self.map_cells = map_cells
        self.counts = torch.zeros(int(num_cells), device=device)

    @classmethod
    def build(cls, *, env: Any, device: torch.device, **_: Any) -> CountBonus:
        return cls(map_cells=env.map_cells, num_cells=env.num_cells, device=device)

    def score(self, batch: Transitions) -> Tensor:
        if batch.map_xy is None:
            raise ValueError("the count bonus needs the map_xy of each next observation (info['map_xy'])")
        cells = self.map_cells(batch.map_xy).to(self.counts.device).long().reshape(batch.steps(), -1)
        out = torch.empty(cells.shape, device=self.counts.device)
        ones = torch.ones(cells.shape[1], device=self.counts.device)
        for t in range(cells.shape[0]):  # a cell's count includes the visits of earlier steps
            self.counts.index_add_(0, cells[t], ones)  # not bincount: it reads back its largest index
            out[t] = self.counts[cells[t]].rsqrt()
        return out.reshape(-1)

    def peek(self, batch: Transitions) -> Tensor:
        """``1 / sqrt(max(n, 1))`` of each next cell under the counts so far."""
        if batch.map_xy is None:
            raise ValueError("the count bonus needs the map_xy of each next observation (info['map_xy'])")
        cells = self.map_cells(batch.map_xy).to(self.counts.device).long().reshape(-1)
        return self.counts[cells].clamp_min(1).rsqrt()

    def state_dict(self) -> dict:
        return {"counts": self.counts.detach().cpu().clone()}  # a copy: the counts grow in place

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].to(self.counts.device)
