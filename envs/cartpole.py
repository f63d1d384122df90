"""CartPole-v1 as a batched torch twin (``freeenergy/CartPole-v1``).

Physics, termination, reward and the 500-step truncation are Gymnasium's
``CartPole-v1`` (Barto, Sutton & Anderson 1983; explicit Euler with
``tau = 0.02``), step for step: :class:`CartPole` *is* Gymnasium's
``CartPoleEnv`` with two changes, and :class:`CartPoleTwin` runs N copies of it
as tensors (state in float64 by default, as Gymnasium keeps it):

- the start state, uniform in [-0.05, 0.05]^4 as Gymnasium's, is drawn from
  the project's counter-based noise (:mod:`envs.noise`), so copy ``i`` of the
  twin reset with ``seed`` replays ``CartPole`` reset with ``seed + i``
  (Gymnasium's own env draws it from ``np_random``; given the same start
  state the two agree, which the tests check);
- the single env truncates at ``max_steps`` itself (``TimeLimit`` semantics:
  ``truncated`` is True on step 500 even if the pole also falls then) and
  reports ``info["map_xy"]``.

Observation (float32): cart position, cart velocity, pole angle, pole angular
velocity. Actions: 0 push left, 1 push right. Reward 1 every step.
``info["map_xy"]``: (cart position, pole angle), bounds
((-2.4, 2.4), (-0.2095, 0.2095)). State (``get_state``/``set_state``): the
four physical variables.

The Gymnasium id ``CartPole-v1`` still names Gymnasium's own env (through the
adapter); the twin is ``freeenergy/CartPole-v1``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from envs import noise
from envs.base import MapBounds, TwinEnv

GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
TOTAL_MASS = MASSPOLE + MASSCART
POLEMASS_LENGTH = MASSPOLE * LENGTH
THETA_LIMIT = 12 * 2 * math.pi / 360
X_LIMIT = 2.4
MAP_BOUNDS: MapBounds = ((-X_LIMIT, X_LIMIT), (-THETA_LIMIT, THETA_LIMIT))
_START_LOW, _START_HIGH = -0.05, 0.05


def _start_state(u: Any) -> Any:
    """Start state from float32 uniforms (numpy or torch, already float64)."""
    return _START_LOW + u * (_START_HIGH - _START_LOW)


class CartPole(CartPoleEnv):
    """Gymnasium's CartPole-v1 with counter-noise resets, truncation and ``map_xy`` (module doc)."""

    def __init__(self, max_steps: int = 500, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.max_steps = int(max_steps)
        self.map_bounds = MAP_BOUNDS
        self._rng = noise.CounterRNG()

    def _info(self) -> dict[str, Any]:
        x, _, theta, _ = self.state
        return {"map_xy": np.array([x, theta], dtype=np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super(CartPoleEnv, self).reset(seed=seed)  # seeds np_random only
        self._rng._reset_counters(seed, self.np_random)
        u = self._rng._uniform(np.arange(noise.RESET_STREAM, noise.RESET_STREAM + 4)).astype(np.float64)
        self.state = _start_state(u)
        self.steps_beyond_terminated = None
        return np.array(self.state, dtype=np.float32), self._info()

    def step(self, action: Any):
        obs, reward, terminated, _, _ = super().step(action)
        self._rng._t += 1
        truncated = self._rng._t >= self.max_steps
        return obs, reward, terminated, truncated, self._info()

    def set_state(self, state: Any) -> np.ndarray:
        """Set (x, x_dot, theta, theta_dot); returns the observation."""
        self.state = np.asarray(state, dtype=np.float64).reshape(4).copy()
        self.steps_beyond_terminated = None
        self._rng._t = 0
        return np.array(self.state, dtype=np.float32)


class CartPoleTwin(TwinEnv):
    terminal_is_success = False  # termination is the pole falling: a failure
    """N copies of :class:`CartPole` as tensors.

    Args:
        num_envs, device: copies and where they live.
        max_steps: truncation (500 as CartPole-v1).
        dtype: of the physical state (float64 replays Gymnasium; float32 is faster on GPUs).
    """

    def __init__(self, num_envs: int = 1, device: str | torch.device = "cpu", max_steps: int = 500,
                 dtype: torch.dtype = torch.float64) -> None:
        high = np.array([X_LIMIT * 2, np.inf, THETA_LIMIT * 2, np.inf], dtype=np.float32)
        super().__init__(num_envs, device, spaces.Box(-high, high, dtype=np.float32), spaces.Discrete(2), max_steps)
        self.dtype = dtype
        self._state = torch.zeros(self.num_envs, 4, dtype=dtype, device=self.device)
        self._start_ch = self._channels(noise.RESET_STREAM, 4)
        self._at_limit = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    @property
    def map_bounds(self) -> MapBounds:
        return MAP_BOUNDS

    def _init_state(self, mask: torch.Tensor) -> None:
        start = _start_state(self._uniform(self._start_ch).to(torch.float64)).to(self.dtype)
        self._state = torch.where(mask[:, None], start, self._state)

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, x_dot, theta, theta_dot = self._state.unbind(1)
        force = torch.where(actions == 1, FORCE_MAG, -FORCE_MAG).to(self.dtype)
        cos, sin = torch.cos(theta), torch.sin(theta)
        temp = (force + POLEMASS_LENGTH * theta_dot.square() * sin) / TOTAL_MASS
        thetaacc = (GRAVITY * sin - cos * temp) / (LENGTH * (4.0 / 3.0 - MASSPOLE * cos.square() / TOTAL_MASS))
        xacc = temp - POLEMASS_LENGTH * thetaacc * cos / TOTAL_MASS
        x, x_dot = x + TAU * x_dot, x_dot + TAU * xacc
        theta, theta_dot = theta + TAU * theta_dot, theta_dot + TAU * thetaacc
        self._state = torch.stack([x, x_dot, theta, theta_dot], dim=1)
        terminated = (x < -X_LIMIT) | (x > X_LIMIT) | (theta < -THETA_LIMIT) | (theta > THETA_LIMIT)
        self._at_limit = (self._t + 1) >= self.max_steps
        return torch.ones_like(x, dtype=torch.float32), terminated

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = super().step(actions)
        # TimeLimit semantics: the last step is truncated even when the pole also falls then.
        return obs, reward, terminated, truncated | (terminated & self._at_limit), info

    def _observe(self) -> torch.Tensor:
        return self._state.to(torch.float32)

    def _map_xy(self) -> torch.Tensor:
        return self._state[:, [0, 2]].to(torch.float32)

    def get_state(self) -> torch.Tensor:
        """(N, 4) (x, x_dot, theta, theta_dot) in the twin's dtype."""
        return self._state.clone()

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        self._state[idx] = states.to(self.device, self.dtype).reshape(-1, 4)
