"""DarkRoom: the dark-room problem made concrete, and its batched twin.

A square room of ``size x size`` cells. The agent walks (0 up, 1 right, 2 down,
3 left, 4 stay) and can flip a light switch (action 5, ``toggle``). With
``switch_cell=None`` (default) the switch is within reach everywhere; with
``switch_cell=(ix, iy)`` the toggle works only on that cell. The light starts on.

While the light is on the agent sees a rich, partly unpredictable room:

    [agent_x, agent_y, 1, obj_1_x, obj_1_y, ..., obj_K_x, obj_K_y, lamp_1, ..., lamp_F]

positions normalised to (0, 1) as ``(i + 0.5) / size``; ``K = num_objects``
objects random-walk (uniform over stay/up/right/down/left, walls stop them)
whatever the agent does; ``F = num_lamps`` lamps flicker, each on with
probability 1/2 at every step, independently. While the light is off every
observation is the same constant, all zeros; the world goes on unseen. So a
surprise minimiser that turns the light off and keeps it off sees nothing
surprising forever, while a surprise maximiser keeps it on and roams.

Reward is always 0; no termination; truncation after ``max_steps``.
``info``: ``map_xy`` and ``agent_xy`` (agent cell centre, in cell units, map
bounds ((0, size), (0, size))), ``light_on`` (bool), ``cell`` (map cell index), and
``metrics`` = ``{"dark_fraction": 1.0 while the light is off, else 0.0}`` (the run
metrics protocol of :mod:`envs.base`; listed in ``late_metrics``, so a run reports
the share of copy-steps in the dark over its second half).
State: long ``(agent_ix, agent_iy, light, obj_1_ix, obj_1_iy, ..., lamp_1, ...)``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs import noise
from envs.base import MapBounds, TwinEnv

TOGGLE = 5
# (dx, dy) for up, right, down, left, stay (y points up).
AGENT_MOVES = np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [0, 0], [0, 0]], dtype=np.int64)
# Objects pick uniformly among stay, up, right, down, left.
OBJECT_MOVES = np.array([[0, 0], [0, 1], [1, 0], [0, -1], [-1, 0]], dtype=np.int64)


def _check(size: int, num_objects: int, num_lamps: int, switch_cell: Any) -> tuple[int, int] | None:
    if int(size) < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    if int(num_objects) < 0 or int(num_lamps) < 0:
        raise ValueError(f"num_objects and num_lamps must be >= 0, got {num_objects}, {num_lamps}")
    if switch_cell is None:
        return None
    sx, sy = (int(v) for v in switch_cell)
    if not (0 <= sx < size and 0 <= sy < size):
        raise ValueError(f"switch_cell={switch_cell!r} lies outside the {size}x{size} room")
    return sx, sy


class DarkRoom(gym.Env, noise.CounterRNG):
    """Single-copy Gymnasium DarkRoom (see module doc).

    Args:
        size: side of the room in cells.
        num_objects: uncontrollable random-walking objects seen when lit.
        num_lamps: flickering lamps seen when lit.
        switch_cell: ``(ix, iy)`` where the toggle works; None = anywhere.
        max_steps: steps before truncation.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    late_metrics = ("dark_fraction",)

    def __init__(
        self,
        size: int = 5,
        num_objects: int = 2,
        num_lamps: int = 2,
        switch_cell: tuple[int, int] | None = None,
        max_steps: int = 200,
        render_mode: str | None = None,
    ) -> None:
        self.switch_cell = _check(size, num_objects, num_lamps, switch_cell)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r}; supported: None, 'ansi'")
        self.render_mode = render_mode
        self.size, self.num_objects, self.num_lamps = int(size), int(num_objects), int(num_lamps)
        self.max_steps = int(max_steps)
        obs_dim = 3 + 2 * self.num_objects + self.num_lamps
        self.observation_space = spaces.Box(0.0, 1.0, (obs_dim,), np.float32)
        self.action_space = spaces.Discrete(6)
        self.map_bounds: MapBounds = ((0.0, float(size)), (0.0, float(size)))
        self.grid_shape = (int(size), int(size))
        k, f = self.num_objects, self.num_lamps
        self._reset_ch = np.arange(2 + 2 * k + f) + noise.RESET_STREAM
        self._step_ch = np.arange(k + f) + noise.STEP_STREAM
        self._agent = np.zeros(2, np.int64)
        self._objects = np.zeros((k, 2), np.int64)
        self._lamps = np.zeros(f, np.int64)
        self._light = True

    @property
    def reachable_cells(self) -> np.ndarray:
        return np.arange(self.size * self.size)

    def _obs(self) -> np.ndarray:
        if not self._light:
            return np.zeros(3 + 2 * self.num_objects + self.num_lamps, np.float32)
        s = np.float32(self.size)
        pos = (np.concatenate([self._agent, self._objects.reshape(-1)]).astype(np.float32) + np.float32(0.5)) / s
        return np.concatenate([pos[:2], [np.float32(1.0)], pos[2:], self._lamps.astype(np.float32)]).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        xy = self._agent.astype(np.float32) + np.float32(0.5)
        return {
            "map_xy": xy,
            "agent_xy": xy.copy(),
            "light_on": bool(self._light),
            "cell": int(self._agent[1] * self.size + self._agent[0]),
            "metrics": {"dark_fraction": 0.0 if self._light else 1.0},
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_counters(seed, self.np_random)
        u = self._uniform(self._reset_ch)
        k = self.num_objects
        cells = np.floor(u[: 2 + 2 * k] * np.float32(self.size)).astype(np.int64)
        self._agent = cells[:2]
        self._objects = cells[2:].reshape(k, 2)
        self._lamps = (u[2 + 2 * k :] < np.float32(0.5)).astype(np.int64)
        self._light = True
        return self._obs(), self._info()

    def step(self, action: Any):
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        a = int(action)
        u = self._uniform(self._step_ch)
        k = self.num_objects
        hi = self.size - 1
        self._agent = np.clip(self._agent + AGENT_MOVES[a], 0, hi)
        if a == TOGGLE and (self.switch_cell is None or tuple(self._agent) == self.switch_cell):
            self._light = not self._light
        moves = np.floor(u[:k] * np.float32(5.0)).astype(np.int64)
        self._objects = np.clip(self._objects + OBJECT_MOVES[moves], 0, hi)
        self._lamps = (u[k:] < np.float32(0.5)).astype(np.int64)
        self._t += 1
        truncated = self._t >= self.max_steps
        return self._obs(), 0.0, False, truncated, self._info()

    def set_state(self, state: Any) -> np.ndarray:
        """Set (agent_ix, agent_iy, light, objects..., lamps...); returns the observation."""
        s = np.asarray(state, dtype=np.int64).reshape(-1)
        k, f = self.num_objects, self.num_lamps
        if s.shape[0] != 3 + 2 * k + f:
            raise ValueError(f"DarkRoom state has {3 + 2 * k + f} entries, got {s.shape[0]}")
        self._agent, self._light = np.clip(s[:2], 0, self.size - 1), bool(s[2])
        self._objects = np.clip(s[3 : 3 + 2 * k].reshape(k, 2), 0, self.size - 1)
        self._lamps = (s[3 + 2 * k :] != 0).astype(np.int64)
        self._t = 0
        return self._obs()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if not self._light:
            return "\n".join(["?" * self.size] * self.size)
        grid = [["."] * self.size for _ in range(self.size)]
        for ox, oy in self._objects:
            grid[self.size - 1 - oy][ox] = "o"
        if self.switch_cell is not None:
            grid[self.size - 1 - self.switch_cell[1]][self.switch_cell[0]] = "s"
        grid[self.size - 1 - self._agent[1]][self._agent[0]] = "A"
        return "\n".join("".join(r) for r in grid)


class DarkRoomTwin(TwinEnv):
    """Batched torch twin of :class:`DarkRoom`: same kwargs plus ``num_envs``, ``device``."""

    #: Whether the agent *learned* to sit in the dark shows late in a run.
    late_metrics = ("dark_fraction",)

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        size: int = 5,
        num_objects: int = 2,
        num_lamps: int = 2,
        switch_cell: tuple[int, int] | None = None,
        max_steps: int = 200,
    ) -> None:
        switch = _check(size, num_objects, num_lamps, switch_cell)
        k, f = int(num_objects), int(num_lamps)
        obs_space = spaces.Box(0.0, 1.0, (3 + 2 * k + f,), np.float32)
        super().__init__(num_envs, device, obs_space, spaces.Discrete(6), max_steps)
        self.size, self.num_objects, self.num_lamps, self.switch_cell = int(size), k, f, switch
        dev, n = self.device, self.num_envs
        self._reset_ch = self._channels(noise.RESET_STREAM, 2 + 2 * k + f)
        self._step_ch = self._channels(noise.STEP_STREAM, k + f)
        # One move table: rows 0-5 agent actions, rows 6-10 object moves.
        self._moves = torch.as_tensor(np.concatenate([AGENT_MOVES, OBJECT_MOVES]), device=dev)
        self._switch = None if switch is None else torch.as_tensor(switch, device=dev)
        # State: positions (N, 1 + K, 2) with the agent first, lamps (N, F), light (N,).
        self._pos = torch.zeros(n, 1 + k, 2, dtype=torch.long, device=dev)
        self._lamps = torch.zeros(n, f, dtype=torch.long, device=dev)
        self._light = torch.ones(n, dtype=torch.bool, device=dev)
        self._move_idx = torch.zeros(n, 1 + k, dtype=torch.long, device=dev)

    @property
    def map_bounds(self) -> MapBounds:
        return ((0.0, float(self.size)), (0.0, float(self.size)))

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (self.size, self.size)

    @property
    def reachable_cells(self) -> torch.Tensor:
        return torch.arange(self.size * self.size, device=self.device)

    def _init_state(self, mask: torch.Tensor) -> None:
        u = self._uniform(self._reset_ch)
        k, n = self.num_objects, self.num_envs
        cells = torch.floor(u[:, : 2 + 2 * k] * float(self.size)).long().reshape(n, 1 + k, 2)
        lamps = (u[:, 2 + 2 * k :] < 0.5).long()
        self._pos = torch.where(mask[:, None, None], cells, self._pos)
        self._lamps = torch.where(mask[:, None], lamps, self._lamps)
        self._light = self._light | mask

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self._uniform(self._step_ch)
        k = self.num_objects
        # Column 0: the agent's action; columns 1..K: the objects' random moves.
        self._move_idx[:, 0] = actions
        self._move_idx[:, 1:] = torch.floor(u[:, :k] * 5.0).long() + len(AGENT_MOVES)
        self._pos = (self._pos + self._moves[self._move_idx]).clamp_(0, self.size - 1)
        flip = actions == TOGGLE
        if self._switch is not None:
            flip = flip & (self._pos[:, 0] == self._switch).all(dim=1)
        self._light = self._light ^ flip
        self._lamps = (u[:, k:] < 0.5).long()
        zeros = torch.zeros(self.num_envs, device=self.device)
        return zeros, torch.zeros_like(self._light)

    def _observe(self) -> torch.Tensor:
        k, n = self.num_objects, self.num_envs
        pos = (self._pos.reshape(n, -1).to(torch.float32) + 0.5) / float(self.size)
        obs = torch.empty(n, self.obs_dim, device=self.device)
        obs[:, :2] = pos[:, :2]
        obs[:, 2] = 1.0
        obs[:, 3 : 3 + 2 * k] = pos[:, 2:]
        obs[:, 3 + 2 * k :] = self._lamps
        return obs.mul_(self._light[:, None])

    def _map_xy(self) -> torch.Tensor:
        return self._pos[:, 0].to(torch.float32) + 0.5

    def _extra_info(self) -> dict[str, Any]:
        agent = self._pos[:, 0]
        return {
            "agent_xy": agent.to(torch.float32) + 0.5,
            "light_on": self._light.clone(),
            "cell": agent[:, 1] * self.size + agent[:, 0],
            "metrics": {"dark_fraction": (~self._light).to(torch.float32)},
        }

    def get_state(self) -> torch.Tensor:
        """(N, 3 + 2K + F) long: agent (ix, iy), light, objects, lamps."""
        return torch.cat(
            [self._pos[:, 0], self._light[:, None].long(), self._pos[:, 1:].reshape(self.num_envs, -1), self._lamps],
            dim=1,
        )

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        k, f = self.num_objects, self.num_lamps
        s = states.long()
        if s.shape[1] != 3 + 2 * k + f:
            raise ValueError(f"DarkRoom state has {3 + 2 * k + f} entries, got {s.shape[1]}")
        hi = self.size - 1
        pos = torch.cat([s[:, :2], s[:, 3 : 3 + 2 * k]], dim=1).clamp(0, hi).reshape(-1, 1 + k, 2)
        self._pos[idx] = pos
        self._light[idx] = s[:, 2] != 0
        self._lamps[idx] = (s[:, 3 + 2 * k :] != 0).long()
