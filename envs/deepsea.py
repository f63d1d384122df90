"""DeepSea (bsuite; Osband et al. 2019, "Behaviour Suite for Reinforcement Learning").

An ``size`` x ``size`` grid. The agent starts at the top-left cell (row 0,
column 0); every step it descends one row and moves one column right or left
(clipped at the left edge), so an episode lasts exactly ``size`` steps and ends
(terminated) below the last row. Which of the two actions means "right" is
drawn per cell from ``numpy.random.default_rng(mapping_seed)`` (bsuite's
action mapping), so no fixed action sequence works on every row. Reward as
bsuite's deterministic DeepSea: ``-0.01 / size`` for every "right" move, and
``+1`` for moving right from the far corner (last row, last column). Only the
all-right path earns it: a random policy finds it once in ``2^size`` episodes.

Observation (float32): ``observation="onehot"`` (default, bsuite) the
``size * size`` one-hot image of the agent's cell, all zeros below the last
row; ``"position"`` the two numbers ``(column, row) / size``.

``info``: ``map_xy`` = ``(column + 0.5, row + 0.5)`` (map bounds
((0, size), (0, size + 1)), one coverage cell per grid cell; reachable: the
cells with ``column <= row`` above the bottom, and the row below it where
episodes end), ``metrics`` (twin only) with
per-copy ``depth`` (row), ``column`` and ``on_path`` (1 while every move so
far was "right"), and ``is_success`` (True on the step that reaches the far
corner). The twin's ``summary_metrics()`` gives ``corner_reached`` (0/1) and
``first_corner_episode`` (episodes completed over all copies when the corner
was first reached; NaN if never); ``summary_state()`` / ``load_summary_state()``
carry those counters through checkpoints. State: ``(column, row)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs.base import MapBounds, TwinEnv

OBSERVATIONS = ("onehot", "position")


def _check(size: Any, observation: Any, mapping_seed: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size={size!r} is invalid: expected an integer >= 2 (rows of the DeepSea grid)")
    if observation not in OBSERVATIONS:
        raise ValueError(f"observation={observation!r} is invalid: expected one of {list(OBSERVATIONS)}")
    if isinstance(mapping_seed, bool) or not isinstance(mapping_seed, (int, np.integer)) or mapping_seed < 0:
        raise ValueError(f"mapping_seed={mapping_seed!r} is invalid: expected a non-negative integer")
    return int(size)


def action_mapping(size: int, mapping_seed: int) -> np.ndarray:
    """(size, size) int64: the action that means "right" in each cell (row, column)."""
    return np.random.default_rng(int(mapping_seed)).integers(0, 2, size=(size, size)).astype(np.int64)


def reachable_cells(size: int) -> np.ndarray:
    """Map cells ``row * size + column``: ``column <= row`` above the bottom, and the whole row below it
    (where episodes end; runs count it through ``final_map_xy``)."""
    rows, cols = np.tril_indices(size)
    bottom = size * size + np.arange(size)
    return np.sort(np.concatenate([rows * size + cols, bottom])).astype(np.int64)


def _obs_space(size: int, observation: str) -> spaces.Box:
    dim = size * size if observation == "onehot" else 2
    return spaces.Box(0.0, 1.0, (dim,), np.float32)


class DeepSea(gym.Env):
    """Single-copy Gymnasium DeepSea (see module doc).

    Args:
        size: rows N (>= 2); episodes last N steps.
        observation: ``"onehot"`` (N*N image) or ``"position"`` ((column, row) / N).
        mapping_seed: seed of the per-cell action mapping.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, size: int = 20, observation: str = "onehot", mapping_seed: int = 0,
                 render_mode: str | None = None) -> None:
        self.size = _check(size, observation, mapping_seed)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r}; supported: None, 'ansi'")
        self.render_mode = render_mode
        self.observation = observation
        self.mapping = action_mapping(self.size, mapping_seed)
        self.observation_space = _obs_space(self.size, observation)
        self.action_space = spaces.Discrete(2)
        self.map_bounds = ((0.0, float(self.size)), (0.0, float(self.size + 1)))
        self.grid_shape = (self.size, self.size + 1)
        self.reachable_cells = reachable_cells(self.size)
        self._row = self._col = 0

    def _obs(self) -> np.ndarray:
        n = self.size
        if self.observation == "position":
            return np.array([self._col / n, self._row / n], dtype=np.float32)
        out = np.zeros(n * n, dtype=np.float32)
        if self._row < n:
            out[self._row * n + self._col] = 1.0
        return out

    def _info(self) -> dict[str, Any]:
        return {"map_xy": np.array([self._col + 0.5, self._row + 0.5], dtype=np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._row = self._col = 0
        return self._obs(), self._info()

    def step(self, action: Any):
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        if self._row >= self.size:
            raise RuntimeError("DeepSea.step() after the episode ended; call reset()")
        n = self.size
        right = int(action) == int(self.mapping[self._row, self._col])
        success = right and self._col == n - 1
        # float32 arithmetic in the twin's order, so both give bit-identical rewards.
        reward = np.float32(success) - np.float32(right) * np.float32(0.01 / n)
        if right:
            self._col = min(self._col + 1, n - 1)
        else:
            self._col = max(self._col - 1, 0)
        self._row += 1
        terminated = self._row == n
        info = {**self._info(), "is_success": bool(success)}
        return self._obs(), float(reward), terminated, False, info

    def set_state(self, state: Any) -> np.ndarray:
        """Put the agent at ``(column, row)`` (``column <= row < size``); returns the observation."""
        col, row = (int(v) for v in np.asarray(state, dtype=np.int64).reshape(2))
        if not 0 <= col <= row < self.size:
            raise ValueError(f"state (column, row)=({col}, {row}) is not reachable: need 0 <= column <= row < {self.size}")
        self._col, self._row = col, row
        return self._obs()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        grid = np.full((self.size + 1, self.size), ".")
        grid[min(self._row, self.size), self._col] = "A"
        return "\n".join("".join(r) for r in grid)


class DeepSeaTwin(TwinEnv):
    """Batched torch twin of :class:`DeepSea`: same kwargs plus ``num_envs``, ``device``."""

    def __init__(self, num_envs: int = 1, device: str | torch.device = "cpu", size: int = 20,
                 observation: str = "onehot", mapping_seed: int = 0) -> None:
        n = _check(size, observation, mapping_seed)
        super().__init__(num_envs, device, _obs_space(n, observation), spaces.Discrete(2), None)
        self.size, self.observation = n, observation
        dev = self.device
        self._mapping = torch.as_tensor(action_mapping(n, mapping_seed).reshape(-1), device=dev)
        self._row = torch.zeros(self.num_envs, dtype=torch.long, device=dev)
        self._col = torch.zeros_like(self._row)
        self._success = torch.zeros(self.num_envs, dtype=torch.bool, device=dev)
        self._right_so_far = torch.ones(self.num_envs, dtype=torch.bool, device=dev)
        self._episodes = torch.zeros((), dtype=torch.long, device=dev)
        self._first_corner = torch.full((), -1, dtype=torch.long, device=dev)

    @property
    def map_bounds(self) -> MapBounds:
        return ((0.0, float(self.size)), (0.0, float(self.size + 1)))

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (self.size, self.size + 1)

    @property
    def reachable_cells(self) -> torch.Tensor:
        return torch.as_tensor(reachable_cells(self.size), device=self.device)

    def _init_state(self, mask: torch.Tensor) -> None:
        zero = torch.zeros_like(self._row)
        self._row = torch.where(mask, zero, self._row)
        self._col = torch.where(mask, zero, self._col)
        self._right_so_far = self._right_so_far | mask

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.size
        right = actions == self._mapping[self._row * n + self._col]
        success = right & (self._col == n - 1)
        reward = success.to(torch.float32) - right.to(torch.float32) * (0.01 / n)
        self._col = torch.where(right, (self._col + 1).clamp(max=n - 1), (self._col - 1).clamp(min=0))
        self._row = self._row + 1
        self._right_so_far = self._right_so_far & right
        self._success = success
        terminated = self._row == n
        self._count_episodes(terminated, success)
        return reward, terminated

    def _count_episodes(self, done: torch.Tensor, success: torch.Tensor) -> None:
        """Episode numbers over all copies (copy order within a step); no host sync."""
        number = self._episodes + torch.cumsum(done.long(), 0)
        big = torch.iinfo(torch.long).max
        first_now = torch.where(success, number, torch.full_like(number, big)).min()
        unset = (self._first_corner < 0) & success.any()
        self._first_corner = torch.where(unset, first_now, self._first_corner)
        self._episodes = self._episodes + done.long().sum()

    def _observe(self) -> torch.Tensor:
        n = self.size
        if self.observation == "position":
            return torch.stack([self._col, self._row], dim=1).to(torch.float32) / n
        inside = self._row < n
        flat = torch.where(inside, self._row * n + self._col, torch.zeros_like(self._row))
        out = torch.zeros(self.num_envs, n * n, dtype=torch.float32, device=self.device)
        out[self._arange, flat] = inside.to(torch.float32)
        return out

    def _map_xy(self) -> torch.Tensor:
        return torch.stack([self._col, self._row], dim=1).to(torch.float32) + 0.5

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = super().step(actions)
        info["is_success"] = self._success
        info["metrics"] = {"depth": self._row.to(torch.float32), "column": self._col.to(torch.float32),
                           "on_path": self._right_so_far.to(torch.float32)}
        return obs, reward, terminated, truncated, info

    def summary_metrics(self) -> dict[str, float]:
        """``corner_reached`` (0/1), ``first_corner_episode`` (NaN if never), ``episodes``."""
        first = int(self._first_corner)
        return {"corner_reached": float(first >= 0), "first_corner_episode": float(first) if first >= 0 else float("nan"),
                "episodes": float(int(self._episodes))}

    def summary_state(self) -> dict[str, int]:
        """The counters behind :meth:`summary_metrics`, for checkpoints."""
        return {"episodes": int(self._episodes), "first_corner": int(self._first_corner)}

    def load_summary_state(self, state: dict[str, int]) -> None:
        """Continue counting from :meth:`summary_state` (a resumed run)."""
        self._episodes.fill_(int(state["episodes"]))
        self._first_corner.fill_(int(state["first_corner"]))

    def get_state(self) -> torch.Tensor:
        """(N, 2) long ``(column, row)``."""
        return torch.stack([self._col, self._row], dim=1)

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        s = states.to(self.device).long().reshape(-1, 2)
        col, row = s[:, 0], s[:, 1]
        if bool(((col < 0) | (col > row) | (row >= self.size)).any()):
            raise ValueError(f"states (column, row) must satisfy 0 <= column <= row < {self.size}, got {s.tolist()}")
        self._col[idx], self._row[idx] = col, row
        self._right_so_far[idx] = col == row
