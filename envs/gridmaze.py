"""GridMaze: a discrete grid maze from a layout string, and its batched twin.

Observation (float32): the normalised position ``(x / W, y / H)`` of the agent's
cell centre (x right, y up, see :mod:`envs.layout`), followed, with
``local_view=True``, by the 3x3 neighbourhood (1.0 = wall, text order: top row
first). Actions: 0 up, 1 right, 2 down, 3 left, and 4 stay with
``stay_action=True``; moving into a wall leaves the agent in place.
Reward 0, except 1 on reaching a ``G`` cell, which terminates the episode.
Episodes truncate after ``max_steps`` steps.

``info``: ``map_xy`` (cell centre in cell units; map bounds ((0, W), (0, H))),
``cell`` (map cell index ``iy * W + ix``, the unit of coverage).
State (``get_state`` / ``set_state``): integer cell coordinates ``(ix, iy)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs import noise
from envs.base import MapBounds, TwinEnv
from envs.layout import Layout, load_layout

ACTION_NAMES = ("up", "right", "down", "left", "stay")


class GridTables:
    """Per-layout lookup tables shared by the single env and its twin.

    Positions are text-flat indices ``p = row * W + col``; every per-cell
    quantity is a table indexed by ``p``.
    """

    def __init__(self, layout: str | Layout, local_view: bool, random_start: bool | None) -> None:
        self.layout = load_layout(layout)
        lay = self.layout
        h, w = lay.height, lay.width
        self.height, self.width = h, w
        self.walls_flat = lay.walls.reshape(-1).copy()
        rows, cols = np.divmod(np.arange(h * w), w)
        ix, iy = cols, h - 1 - rows
        self.xy_table = np.stack([ix + 0.5, iy + 0.5], axis=1).astype(np.float32)
        pos_obs = (self.xy_table / np.array([w, h], dtype=np.float32)).astype(np.float32)
        parts = [pos_obs]
        if local_view:
            padded = np.pad(lay.walls, 1, constant_values=True)
            view = [padded[rows + 1 + dr, cols + 1 + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
            parts.append(np.stack(view, axis=1).astype(np.float32))
        self.obs_table = np.concatenate(parts, axis=1)
        self.cell_table = (iy * w + ix).astype(np.int64)
        self.goal_flat = np.zeros(h * w, dtype=bool)
        for r, c in lay.goals:
            self.goal_flat[r * w + c] = True
        reach = lay.reachable()
        self.reach_flat = (reach[:, 0] * w + reach[:, 1]).astype(np.int64)
        self.reachable_cells = np.sort(self.cell_table[self.reach_flat])
        if random_start is None:
            random_start = lay.start is None
        if not random_start and lay.start is None:
            raise ValueError("random_start=False needs a layout with an 'S' start cell")
        self.random_start = bool(random_start)
        self.start_flat = None if lay.start is None else lay.start[0] * w + lay.start[1]
        self.deltas = np.array([-w, 1, w, -1, 0], dtype=np.int64)

    @property
    def obs_dim(self) -> int:
        return int(self.obs_table.shape[1])

    @property
    def map_bounds(self) -> MapBounds:
        return ((0.0, float(self.width)), (0.0, float(self.height)))

    def flat_from_xy(self, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
        """Text-flat index of cell coordinates; error for walls or outside cells."""
        ix, iy = np.asarray(ix, dtype=np.int64), np.asarray(iy, dtype=np.int64)
        if ((ix < 0) | (ix >= self.width) | (iy < 0) | (iy >= self.height)).any():
            raise ValueError(f"cell (ix, iy) outside the {self.width}x{self.height} grid")
        p = (self.height - 1 - iy) * self.width + ix
        if self.walls_flat[p].any():
            bad = np.stack([ix, iy], -1).reshape(-1, 2)[self.walls_flat[p].reshape(-1)]
            raise ValueError(f"cells (ix, iy) {bad.tolist()} are walls")
        return p

    def render_text(self, p: int, extra: dict[int, str] | None = None) -> str:
        chars = np.where(self.layout.walls, "#", ".").reshape(-1)
        for q, ch in (extra or {}).items():
            chars[q] = ch
        chars[p] = "A"
        return "\n".join("".join(r) for r in chars.reshape(self.height, self.width))


def _start_index(u: Any, tables: GridTables, xp_floor) -> Any:
    """Index into ``reach_flat`` from a float32 uniform (same ops in numpy and torch)."""
    m = len(tables.reach_flat)
    return xp_floor(u * np.float32(m))


class GridMaze(gym.Env, noise.CounterRNG):
    """Single-copy Gymnasium GridMaze (see module doc).

    Args:
        layout: bundled name (``"fourrooms"``, ``"multiroom"``, ...) or a layout string.
        max_steps: steps before truncation.
        local_view: append the 3x3 wall neighbourhood to the observation.
        stay_action: add action 4, stay.
        random_start: start in a uniformly random reachable cell; default: only
            when the layout has no ``S``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        layout: str = "fourrooms",
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = False,
        random_start: bool | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.tables = GridTables(layout, local_view, random_start)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r}; supported: None, 'ansi'")
        self.render_mode = render_mode
        self.max_steps = int(max_steps)
        self.observation_space = spaces.Box(0.0, 1.0, (self.tables.obs_dim,), np.float32)
        self.action_space = spaces.Discrete(5 if stay_action else 4)
        self.map_bounds = self.tables.map_bounds
        self.grid_shape = (self.tables.width, self.tables.height)
        self._p = 0

    @property
    def reachable_cells(self) -> np.ndarray:
        """Map cell indices (M,) reachable from the start."""
        return self.tables.reachable_cells

    def _obs(self) -> np.ndarray:
        return self.tables.obs_table[self._p].copy()

    def _info(self) -> dict[str, Any]:
        return {"map_xy": self.tables.xy_table[self._p].copy(), "cell": int(self.tables.cell_table[self._p])}

    def _draw_start(self) -> int:
        t = self.tables
        if not t.random_start:
            return int(t.start_flat)
        u = self._uniform(np.array([noise.RESET_STREAM]))[0]
        return int(t.reach_flat[int(_start_index(u, t, np.floor))])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_counters(seed, self.np_random)
        self._p = self._draw_start()
        return self._obs(), self._info()

    def _move(self, action: int) -> None:
        new = self._p + int(self.tables.deltas[action])
        if not self.tables.walls_flat[new]:
            self._p = new

    def step(self, action: Any):
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self._move(int(action))
        self._t += 1
        terminated = bool(self.tables.goal_flat[self._p])
        truncated = self._t >= self.max_steps and not terminated
        return self._obs(), float(terminated), terminated, truncated, self._info()

    def set_state(self, state: Any) -> np.ndarray:
        """Move the agent to cell ``(ix, iy)``; returns the observation."""
        ix, iy = np.asarray(state, dtype=np.int64).reshape(2)
        self._p = int(self.tables.flat_from_xy(ix, iy))
        self._t = 0
        return self._obs()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.tables.render_text(self._p)
        return None


class GridMazeTwin(TwinEnv):
    """Batched torch twin of :class:`GridMaze`: same kwargs plus ``num_envs``, ``device``."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        layout: str = "fourrooms",
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = False,
        random_start: bool | None = None,
    ) -> None:
        tables = GridTables(layout, local_view, random_start)
        obs_space = spaces.Box(0.0, 1.0, (tables.obs_dim,), np.float32)
        act_space = spaces.Discrete(5 if stay_action else 4)
        super().__init__(num_envs, device, obs_space, act_space, max_steps)
        self.tables = tables
        dev = self.device
        self._walls = torch.as_tensor(tables.walls_flat, device=dev)
        self._obs_table = torch.as_tensor(tables.obs_table, device=dev)
        self._xy_table = torch.as_tensor(tables.xy_table, device=dev)
        self._cell_table = torch.as_tensor(tables.cell_table, device=dev)
        self._goal = torch.as_tensor(tables.goal_flat, device=dev)
        self._reach = torch.as_tensor(tables.reach_flat, device=dev)
        self._deltas = torch.as_tensor(tables.deltas, device=dev)
        self._has_goal = bool(tables.goal_flat.any())
        self._start_ch = self._channels(noise.RESET_STREAM, 1)
        self._p = torch.zeros(self.num_envs, dtype=torch.long, device=dev)

    @property
    def map_bounds(self) -> MapBounds:
        return self.tables.map_bounds

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (self.tables.width, self.tables.height)

    @property
    def reachable_cells(self) -> torch.Tensor:
        return torch.as_tensor(self.tables.reachable_cells, device=self.device)

    def _init_state(self, mask: torch.Tensor) -> None:
        if self.tables.random_start:
            u = self._uniform(self._start_ch)[:, 0]
            start = self._reach[_start_index(u, self.tables, torch.floor).long()]
        else:
            start = torch.full_like(self._p, int(self.tables.start_flat))
        self._p = torch.where(mask, start, self._p)

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        new = self._p + self._deltas[actions]
        self._p = torch.where(self._walls[new], self._p, new)
        if self._has_goal:
            terminated = self._goal[self._p]
        else:
            terminated = torch.zeros_like(self._p, dtype=torch.bool)
        return terminated.to(torch.float32), terminated

    def _observe(self) -> torch.Tensor:
        return self._obs_table[self._p]

    def _map_xy(self) -> torch.Tensor:
        return self._xy_table[self._p]

    def _extra_info(self) -> dict[str, torch.Tensor]:
        return {"cell": self._cell_table[self._p]}

    def get_state(self) -> torch.Tensor:
        """(N, 2) long cell coordinates ``(ix, iy)``."""
        w, h = self.tables.width, self.tables.height
        row, col = self._p // w, self._p % w
        return torch.stack([col, h - 1 - row], dim=1)

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        s = states.detach().cpu().numpy().reshape(-1, 2)
        p = self.tables.flat_from_xy(s[:, 0], s[:, 1])
        self._p[idx] = torch.as_tensor(p, device=self.device)
