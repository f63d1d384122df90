"""Exploration bookkeeping: visitation counts and coverage over map cells.

Cells are the env's ``map_cells`` of ``info["map_xy"]``: exact maze cells on
grid worlds, a ``grid_shape`` grid over ``map_bounds`` elsewhere. Coverage is
the share of *reachable* cells visited by any copy (the maze's reachable cells
when the env knows them, otherwise every cell of the grid).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class Visitation:
    """Counts visits per cell, over all copies and per copy.

    Args:
        grid_shape: (nx, ny) cells; cell index is ``iy * nx + ix``.
        num_envs: copies, for per-copy coverage.
        reachable: ``(M,)`` indices of reachable cells, or None for all cells.
        device: where counts live.
    """

    def __init__(self, grid_shape: tuple[int, int], num_envs: int, reachable: Tensor | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.grid_shape = (int(grid_shape[0]), int(grid_shape[1]))
        self.num_cells = self.grid_shape[0] * self.grid_shape[1]
        self.device = torch.device(device)
        self.counts = torch.zeros(self.num_cells, dtype=torch.long, device=self.device)
        self.env_visited = torch.zeros(num_envs, self.num_cells, dtype=torch.bool, device=self.device)
        self._copies = torch.arange(num_envs, device=self.device)
        self._ones = torch.ones(num_envs, dtype=torch.long, device=self.device)
        # Whether the denominator of coverage is the env's reachable set or every map cell.
        self.knows_reachable = reachable is not None
        mask = torch.zeros(self.num_cells, dtype=torch.bool, device=self.device)
        if reachable is None:
            mask[:] = True
        else:
            mask[torch.as_tensor(reachable, device=self.device).long()] = True
        self.reachable = mask

    @classmethod
    def for_env(cls, env: Any) -> Visitation:
        """A tracker over ``env``'s map grid (and reachable cells, if it knows them)."""
        return cls(env.grid_shape, env.num_envs, env.reachable_cells, env.device)

    def add(self, cells: Tensor) -> None:
        """Record one visit of each copy: ``cells`` ``(N,)`` long."""
        cells = cells.to(self.device).long().reshape(-1)
        # index_add_, not bincount: on a GPU bincount reads the largest index back to the host.
        self.counts.index_add_(0, cells, self._ones[: cells.numel()])
        self.env_visited[self._copies[: cells.numel()], cells] = True

    @property
    def visited(self) -> Tensor:
        """``(num_cells,)`` bool: visited by any copy."""
        return self.counts > 0

    @property
    def unique_cells(self) -> int:
        return int(self.visited.sum())

    @property
    def coverage(self) -> float:
        """Share of reachable cells visited by any copy."""
        return float((self.visited & self.reachable).sum()) / max(int(self.reachable.sum()), 1)

    @property
    def mean_env_coverage(self) -> float:
        """Share of reachable cells visited, per copy, averaged over copies."""
        per = (self.env_visited & self.reachable).sum(1).float() / max(int(self.reachable.sum()), 1)
        return float(per.mean())

    def heatmap(self) -> Tensor:
        """``(ny, nx)`` visit counts, row ``iy`` (y up when drawn with origin='lower')."""
        nx, ny = self.grid_shape
        return self.counts.reshape(ny, nx).cpu()

    def metrics(self) -> dict[str, float]:
        return {"explore/coverage": self.coverage, "explore/unique_cells": float(self.unique_cells),
                "explore/mean_env_coverage": self.mean_env_coverage}

    def state_dict(self) -> dict:
        # Copies: both grow in place, and a checkpoint kept in memory must not.
        return {"counts": self.counts.cpu().clone(), "env_visited": self.env_visited.cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].to(self.device)
        self.env_visited = state["env_visited"].to(self.device)
