"""Small plug-in Gymnasium envs for the tests (``env.id=plugin_envs:Name``): faulty ones that return
NaN or out-of-space values after a few steps, and plain grids with no extra attributes."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class FaultyEnv(gym.Env):
    """A 2-D point in a [-1, 1] box; from step ``bad_from`` on it returns ``bad`` in the observation
    (``what="obs"``) or as the reward (``what="reward"``)."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(4)

    def __init__(self, what: str = "obs", bad: float = float("nan"), bad_from: int = 5, limit: int = 100) -> None:
        self.what, self.bad, self.bad_from, self.limit = what, float(bad), int(bad_from), int(limit)
        self.t, self.pos = 0, np.zeros(2, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.pos = 0, self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        return self.pos.copy(), {}

    def step(self, action):
        self.t += 1
        move = np.array([[0.1, 0], [-0.1, 0], [0, 0.1], [0, -0.1]], np.float32)[int(action)]
        self.pos = np.clip(self.pos + move, -1, 1).astype(np.float32)
        obs, reward = self.pos.copy(), 1.0
        if self.t >= self.bad_from:
            if self.what == "obs":
                obs[0] = self.bad
            else:
                reward = self.bad
        return obs, reward, False, self.t >= self.limit, {}


class _Grid(gym.Env):
    """A 10x10 grid walked by four moves; subclasses choose how the position is observed."""

    action_space = spaces.Discrete(4)
    size = 10

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.xy = np.array([0, 0])
        return self._obs(), {}

    def step(self, action):
        move = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])[int(action)]
        self.xy = np.clip(self.xy + move, 0, self.size - 1)
        return self._obs(), 0.0, False, False, {}


class MultiDiscreteGrid(_Grid):
    observation_space = spaces.MultiDiscrete([10, 10])

    def _obs(self):
        return self.xy.copy()


class IntBoxGrid(_Grid):
    observation_space = spaces.Box(0, 9, (2,), np.int64)

    def _obs(self):
        return self.xy.astype(np.int64)


class DiscreteGrid(_Grid):
    observation_space = spaces.Discrete(100)

    def _obs(self):
        return int(self.xy[1] * 10 + self.xy[0])


class SnakeGrid(MultiDiscreteGrid):
    """The 10x10 grid walked row by row whatever the action: 99 steps visit every cell."""

    def step(self, action):
        x, y = (int(v) for v in self.xy)
        x, y = (x + 1, y) if (y % 2 == 0 and x < 9) else (x - 1, y) if (y % 2 == 1 and x > 0) else (x, min(y + 1, 9))
        self.xy = np.array([x, y])
        return self._obs(), 0.0, False, False, {}


class IntBoxSnake(SnakeGrid):
    observation_space = spaces.Box(0, 9, (2,), np.int64)

    def _obs(self):
        return self.xy.astype(np.int64)


class DiscreteSnake(SnakeGrid):
    observation_space = spaces.Discrete(100)

    def _obs(self):
        return int(self.xy[1] * 10 + self.xy[0])
