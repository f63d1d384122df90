"""PointMaze: a continuous 2-D point mass in a walled grid maze, and its twin.

The maze is a layout string (see :mod:`envs.layout`; default the 5x5 ``umaze``)
in continuous cell units: x in [0, W], y in [0, H], y up. State: position
``(x, y)`` and velocity ``(vx, vy)``. Action: ``Box(-1, 1, (2,))``, an
acceleration. One step (float32):

    v <- clip(damping * v + accel * (a + noise_std * eps), -max_speed, max_speed)
    x <- x + vx   unless that puts the point in a wall cell (then vx <- 0)
    y <- y + vy   likewise (after the x move)

``max_speed < 1`` keeps the point from jumping over a wall. ``eps`` is standard
normal noise from :mod:`envs.noise` (computed in float64 by the single env and
in float32 by the twin, so trajectories agree to float32 tolerance).
Observation: ``(x / W, y / H, vx / max_speed, vy / max_speed)``. Reward 0,
except 1 on entering a ``G`` cell, which terminates. Truncation after
``max_steps``. ``info``: ``map_xy`` = ``(x, y)``, map bounds ((0, W), (0, H)).
State for ``set_state``: ``(x, y, vx, vy)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs import noise
from envs.base import MapBounds, TwinEnv
from envs.layout import load_layout


class _Maze:
    """Layout tables shared by the single env and its twin."""

    def __init__(self, layout: str, accel: float, damping: float, max_speed: float, noise_std: float, random_start: bool | None) -> None:
        if not 0.0 < max_speed < 1.0:
            raise ValueError(f"max_speed must lie in (0, 1) cells per step, got {max_speed}")
        if accel <= 0 or not 0.0 <= damping <= 1.0 or noise_std < 0:
            raise ValueError(f"need accel > 0, 0 <= damping <= 1, noise_std >= 0; got {accel}, {damping}, {noise_std}")
        lay = load_layout(layout)
        self.layout = lay
        self.height, self.width = lay.height, lay.width
        self.accel, self.damping, self.max_speed, self.noise_std = (np.float32(v) for v in (accel, damping, max_speed, noise_std))
        # walls indexed by map cell iy * W + ix
        self.walls_cell = lay.walls[::-1].reshape(-1).copy()
        self.goal_cell = np.zeros(self.height * self.width, bool)
        for r, c in lay.goals:
            self.goal_cell[lay.cell_index(r, c)] = True
        reach = lay.reachable()
        self.reachable_cells = np.sort(lay.cell_index(reach[:, 0], reach[:, 1]))
        self.random_start = lay.start is None if random_start is None else bool(random_start)
        if not self.random_start and lay.start is None:
            raise ValueError("random_start=False needs a layout with an 'S' start cell")
        self.start_cell = None if lay.start is None else int(lay.cell_index(*lay.start))
        self.scale = np.array([self.width, self.height, self.max_speed, self.max_speed], np.float32)

    @property
    def map_bounds(self) -> MapBounds:
        return ((0.0, float(self.width)), (0.0, float(self.height)))

    def spaces(self) -> tuple[spaces.Box, spaces.Box]:
        obs = spaces.Box(np.array([0, 0, -1, -1], np.float32), np.array([1, 1, 1, 1], np.float32), dtype=np.float32)
        return obs, spaces.Box(-1.0, 1.0, (2,), np.float32)


_NOISE_CH = np.arange(2) + noise.STEP_STREAM
_START_CH = np.arange(3) + noise.RESET_STREAM


class PointMaze(gym.Env, noise.CounterRNG):
    """Single-copy Gymnasium PointMaze (see module doc).

    Args:
        layout: bundled layout name or layout string.
        max_steps: steps before truncation.
        accel, damping, max_speed: dynamics constants (module doc).
        noise_std: std of the Gaussian action noise (0 = deterministic).
        random_start: start at a uniform point of a random reachable cell;
            default only when the layout has no ``S`` (else the S centre).
    """

    metadata = {"render_modes": [], "render_fps": 10}

    def __init__(
        self,
        layout: str = "umaze",
        max_steps: int = 500,
        accel: float = 0.1,
        damping: float = 0.9,
        max_speed: float = 0.5,
        noise_std: float = 0.0,
        random_start: bool | None = None,
    ) -> None:
        self.maze = _Maze(layout, accel, damping, max_speed, noise_std, random_start)
        self.observation_space, self.action_space = self.maze.spaces()
        self.map_bounds = self.maze.map_bounds
        self.grid_shape = (self.maze.width, self.maze.height)
        self.max_steps = int(max_steps)
        self._x = np.zeros(2, np.float32)
        self._v = np.zeros(2, np.float32)

    @property
    def reachable_cells(self) -> np.ndarray:
        return self.maze.reachable_cells

    def _cell(self, xy: np.ndarray) -> int:
        m = self.maze
        ix = min(max(int(np.floor(xy[0])), 0), m.width - 1)
        iy = min(max(int(np.floor(xy[1])), 0), m.height - 1)
        return iy * m.width + ix

    def _obs(self) -> np.ndarray:
        o = np.concatenate([self._x, self._v]) / self.maze.scale
        return np.clip(o, self.observation_space.low, self.observation_space.high).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"map_xy": self._x.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_counters(seed, self.np_random)
        m = self.maze
        if m.random_start:
            u = self._uniform(_START_CH)
            cell = int(m.reachable_cells[int(np.floor(u[0] * np.float32(len(m.reachable_cells))))])
            offset = np.float32(0.1) + np.float32(0.8) * u[1:]
        else:
            cell, offset = m.start_cell, np.full(2, 0.5, np.float32)
        self._x = (np.array([cell % m.width, cell // m.width], np.float32) + offset).astype(np.float32)
        self._v = np.zeros(2, np.float32)
        return self._obs(), self._info()

    def step(self, action: Any):
        m = self.maze
        a = np.clip(np.asarray(action, np.float32).reshape(2), -1.0, 1.0)
        if m.noise_std > 0:
            a = a + m.noise_std * self._normal(_NOISE_CH).astype(np.float32)
        v = np.clip(m.damping * self._v + m.accel * a, -m.max_speed, m.max_speed).astype(np.float32)
        x = self._x.copy()
        for axis in (0, 1):
            trial = x.copy()
            trial[axis] = x[axis] + v[axis]
            if m.walls_cell[self._cell(trial)]:
                v[axis] = 0.0
            else:
                x = trial
        self._x, self._v = x, v
        self._t += 1
        terminated = bool(m.goal_cell[self._cell(x)])
        truncated = self._t >= self.max_steps and not terminated
        return self._obs(), float(terminated), terminated, truncated, self._info()

    def set_state(self, state: Any) -> np.ndarray:
        """Set ``(x, y, vx, vy)``; returns the observation."""
        s = np.asarray(state, np.float32).reshape(4)
        if self.maze.walls_cell[self._cell(s[:2])]:
            raise ValueError(f"position {s[:2].tolist()} is inside a wall")
        self._x, self._v = s[:2].copy(), np.clip(s[2:], -self.maze.max_speed, self.maze.max_speed)
        self._t = 0
        return self._obs()


class PointMazeTwin(TwinEnv):
    """Batched torch twin of :class:`PointMaze`: same kwargs plus ``num_envs``, ``device``."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        layout: str = "umaze",
        max_steps: int = 500,
        accel: float = 0.1,
        damping: float = 0.9,
        max_speed: float = 0.5,
        noise_std: float = 0.0,
        random_start: bool | None = None,
    ) -> None:
        maze = _Maze(layout, accel, damping, max_speed, noise_std, random_start)
        obs_space, act_space = maze.spaces()
        super().__init__(num_envs, device, obs_space, act_space, max_steps)
        self.maze = maze
        dev, n = self.device, self.num_envs
        self._walls = torch.as_tensor(maze.walls_cell, device=dev)
        self._goal = torch.as_tensor(maze.goal_cell, device=dev)
        self._has_goal = bool(maze.goal_cell.any())
        self._reach = torch.as_tensor(maze.reachable_cells, device=dev)
        self._scale = torch.as_tensor(maze.scale, device=dev)
        self._obs_low = torch.as_tensor(obs_space.low, device=dev)
        self._obs_high = torch.as_tensor(obs_space.high, device=dev)
        self._noise_ch = torch.as_tensor(_NOISE_CH, device=dev)
        self._start_ch = torch.as_tensor(_START_CH, device=dev)
        self._x = torch.zeros(n, 2, device=dev)
        self._v = torch.zeros(n, 2, device=dev)

    @property
    def map_bounds(self) -> MapBounds:
        return self.maze.map_bounds

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (self.maze.width, self.maze.height)

    @property
    def reachable_cells(self) -> torch.Tensor:
        return self._reach

    def _cells(self, xy: torch.Tensor) -> torch.Tensor:
        ix = torch.floor(xy[:, 0]).long().clamp(0, self.maze.width - 1)
        iy = torch.floor(xy[:, 1]).long().clamp(0, self.maze.height - 1)
        return iy * self.maze.width + ix

    def _init_state(self, mask: torch.Tensor) -> None:
        m = self.maze
        if m.random_start:
            u = self._uniform(self._start_ch)
            cell = self._reach[torch.floor(u[:, 0] * float(len(m.reachable_cells))).long()]
            offset = 0.1 + 0.8 * u[:, 1:]
        else:
            cell = torch.full((self.num_envs,), m.start_cell, device=self.device)
            offset = torch.full((self.num_envs, 2), 0.5, device=self.device)
        x = torch.stack([cell % m.width, cell // m.width], dim=1).to(torch.float32) + offset
        self._x = torch.where(mask[:, None], x, self._x)
        self._v = torch.where(mask[:, None], torch.zeros_like(self._v), self._v)

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.maze
        a = actions.clamp(-1.0, 1.0)
        if m.noise_std > 0:
            a = a + float(m.noise_std) * self._normal(self._noise_ch)
        v = (float(m.damping) * self._v + float(m.accel) * a).clamp(-float(m.max_speed), float(m.max_speed))
        x = self._x
        for axis in (0, 1):  # two axes, not copies: still one tensor op per axis
            trial = x.clone()
            trial[:, axis] = x[:, axis] + v[:, axis]
            blocked = self._walls[self._cells(trial)]
            x = torch.where(blocked[:, None], x, trial)
            v[:, axis] = torch.where(blocked, torch.zeros_like(v[:, axis]), v[:, axis])
        self._x, self._v = x, v
        if self._has_goal:
            terminated = self._goal[self._cells(x)]
        else:
            terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return terminated.to(torch.float32), terminated

    def _observe(self) -> torch.Tensor:
        o = torch.cat([self._x, self._v], dim=1) / self._scale
        return torch.maximum(torch.minimum(o, self._obs_high), self._obs_low)

    def _map_xy(self) -> torch.Tensor:
        return self._x.clone()

    def get_state(self) -> torch.Tensor:
        """(N, 4) float: ``(x, y, vx, vy)``."""
        return torch.cat([self._x, self._v], dim=1)

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        s = states.to(torch.float32).reshape(-1, 4)
        if bool(self._walls[self._cells(s[:, :2])].any()):
            raise ValueError("set_state: some positions lie inside walls")
        ms = float(self.maze.max_speed)
        self._x[idx] = s[:, :2]
        self._v[idx] = s[:, 2:].clamp(-ms, ms)
