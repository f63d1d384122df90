"""MullerBrown: overdamped Langevin dynamics in the Müller-Brown potential.

The Müller-Brown potential (Müller & Brown, Theor. Chim. Acta 53, 75, 1979):

    U(x, y) = sum_k A_k exp(a_k (x - x0_k)^2 + b_k (x - x0_k)(y - y0_k) + c_k (y - y0_k)^2)

has three minima, ``MINIMA`` (A deepest, U = -146.7; B, U = -108.2; C, the
shallow middle one, U = -80.8) joined by two saddles (A-C at U = -40.7, C-B at
U = -72.2). One step of overdamped Langevin dynamics (Euler-Maruyama, friction
1) with an external force ``F`` (the action):

    x <- clip(x + dt * (-grad U(x) + F) + sqrt(2 kT dt) * eps, bounds)

Its stationary distribution without force is the Boltzmann density
``exp(-U / kT)`` (up to the time-step error), so a constant-in-time force
``F = -grad U_bias`` samples ``exp(-(U + U_bias) / kT)``: umbrella sampling.

Defaults: ``kT = 5`` and ``dt = 1e-4``. The barriers between the deep minima
are then 13 kT (B -> A, via C) and 21 kT (A -> B), so plain dynamics rarely
cross: measured with the twin, of 1024 copies run 10 000 steps (ten default
episodes of ``max_steps = 1000``), none started in A reached B and none
started in B reached A; 16% of those started in B visited the shallow
intermediate C (barrier 7 kT). At ``kT = 10``, 18% went from B to A. The time
step resolves the stiffest well (largest curvature ~4100 at A < 2 / dt).
Positions are clipped to ``BOUNDS``; the force is clipped to
``[-max_force, max_force]`` (raise it for stiff biases).

Observation: the position ``(x, y)``; ``info``: ``map_xy`` (position, map
bounds ``BOUNDS``) and ``potential`` (U at the position). Reward 0; never
terminates; truncation after ``max_steps``. State for ``set_state``: ``(x, y)``.
The Gaussian ``eps`` come from :mod:`envs.noise`; the twin reproduces the
single env's noise stream, to float tolerance.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from envs import noise
from envs.base import MapBounds, TwinEnv

A = (-200.0, -100.0, -170.0, 15.0)
a = (-1.0, -1.0, -6.5, 0.7)
b = (0.0, 0.0, 11.0, 0.6)
c = (-10.0, -10.0, -6.5, 0.7)
X0 = (1.0, 0.0, -0.5, -1.0)
Y0 = (0.0, 0.5, 1.5, 1.0)

MINIMA = {"A": (-0.5582, 1.4417), "B": (0.6235, 0.0280), "C": (-0.0500, 0.4667)}
SADDLES = {"AC": (-0.8220, 0.6243), "CB": (0.2124, 0.2930)}
BOUNDS: MapBounds = ((-1.5, 1.2), (-0.5, 2.0))
DEFAULT_KT = 5.0
DEFAULT_DT = 1e-4


_CONSTS: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _torch_consts(like: torch.Tensor) -> torch.Tensor:
    """(6, 4) tensor of A, a, b, c, X0, Y0 in ``like``'s dtype and device (cached)."""
    key = (like.dtype, like.device)
    if key not in _CONSTS:
        _CONSTS[key] = torch.tensor([A, a, b, c, X0, Y0], dtype=like.dtype, device=like.device)
    return _CONSTS[key]


def _parts(xy: Any) -> tuple[Any, Any, Any, Any]:
    """Per-term ``A_k exp(...)`` (..., 4), displacements dx, dy (..., 4), and the constants."""
    if isinstance(xy, torch.Tensor):
        k = _torch_consts(xy)
    else:
        xy = np.asarray(xy, dtype=np.float64)
        k = np.array([A, a, b, c, X0, Y0])
    dx = xy[..., 0:1] - k[4]
    dy = xy[..., 1:2] - k[5]
    lib = torch if isinstance(xy, torch.Tensor) else np
    e = k[0] * lib.exp(k[1] * dx * dx + k[2] * dx * dy + k[3] * dy * dy)
    return e, dx, dy, k


def potential(xy: Any) -> Any:
    """Müller-Brown potential U of positions (..., 2) -> (...); numpy array or torch tensor."""
    e, _, _, _ = _parts(xy)
    return e.sum(-1)


def grad_potential(xy: Any) -> Any:
    """Gradient of U at positions (..., 2) -> (..., 2); numpy array or torch tensor."""
    e, dx, dy, k = _parts(xy)
    gx = (e * (2 * k[1] * dx + k[2] * dy)).sum(-1)
    gy = (e * (k[2] * dx + 2 * k[3] * dy)).sum(-1)
    if isinstance(xy, torch.Tensor):
        return torch.stack([gx, gy], dim=-1)
    return np.stack([gx, gy], axis=-1)


def _start_point(start: Any) -> tuple[float, float] | None:
    """(x, y) of a named minimum or given point; None for ``"uniform"``."""
    if isinstance(start, str):
        if start == "uniform":
            return None
        if start not in MINIMA:
            raise ValueError(f"start={start!r}; valid: {sorted(MINIMA)}, 'uniform', or an (x, y) pair")
        return MINIMA[start]
    x, y = (float(v) for v in start)
    (x0, x1), (y0, y1) = BOUNDS
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        raise ValueError(f"start={start!r} lies outside the bounds {BOUNDS}")
    return (x, y)


def _check(kT: float, dt: float, max_force: float) -> None:
    if kT < 0 or dt <= 0 or max_force < 0:
        raise ValueError(f"need kT >= 0, dt > 0, max_force >= 0; got kT={kT}, dt={dt}, max_force={max_force}")


_LOW = np.array([BOUNDS[0][0], BOUNDS[1][0]])
_HIGH = np.array([BOUNDS[0][1], BOUNDS[1][1]])
_NOISE_CH = np.arange(2) + noise.STEP_STREAM
_START_CH = np.arange(2) + noise.RESET_STREAM


class MullerBrown(gym.Env, noise.CounterRNG):
    """Single-copy Gymnasium Müller-Brown Langevin env (see module doc).

    Args:
        kT: temperature (energy units of U).
        dt: time step.
        max_force: bound of the force action, per coordinate.
        start: ``"A"``, ``"B"``, ``"C"`` (a minimum), ``"uniform"`` (uniform in
            the bounds), or an ``(x, y)`` pair.
        max_steps: steps before truncation.
    """

    metadata = {"render_modes": [], "render_fps": 30}

    def __init__(
        self,
        kT: float = DEFAULT_KT,
        dt: float = DEFAULT_DT,
        max_force: float = 1000.0,
        start: Any = "A",
        max_steps: int = 1000,
    ) -> None:
        _check(kT, dt, max_force)
        self.kT, self.dt, self.max_force = float(kT), float(dt), float(max_force)
        self.start = _start_point(start)
        self.max_steps = int(max_steps)
        self.map_bounds = BOUNDS
        self.observation_space = spaces.Box(_LOW.astype(np.float32), _HIGH.astype(np.float32), dtype=np.float32)
        self.action_space = spaces.Box(-self.max_force, self.max_force, (2,), np.float32)
        self._x = np.zeros(2)

    def _obs(self) -> np.ndarray:
        return self._x.astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"map_xy": self._x.astype(np.float32), "potential": float(potential(self._x))}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_counters(seed, self.np_random)
        if self.start is None:
            u = self._uniform(_START_CH).astype(np.float64)
            self._x = _LOW + u * (_HIGH - _LOW)
        else:
            self._x = np.array(self.start, dtype=np.float64)
        return self._obs(), self._info()

    def step(self, action: Any):
        force = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -self.max_force, self.max_force)
        eps = self._normal(_NOISE_CH)
        drift = -grad_potential(self._x) + force
        x = self._x + self.dt * drift + math.sqrt(2.0 * self.kT * self.dt) * eps
        self._x = np.clip(x, _LOW, _HIGH)
        self._t += 1
        truncated = self._t >= self.max_steps
        return self._obs(), 0.0, False, truncated, self._info()

    def set_state(self, state: Any) -> np.ndarray:
        """Set the position ``(x, y)`` (clipped to the bounds); returns the observation."""
        self._x = np.clip(np.asarray(state, dtype=np.float64).reshape(2), _LOW, _HIGH)
        self._t = 0
        return self._obs()


class MullerBrownTwin(TwinEnv):
    """Batched torch twin of :class:`MullerBrown`; plus ``num_envs``, ``device``, ``dtype``.

    ``dtype`` (default float32) is the precision of the positions and the
    dynamics; observations are float32 either way. Copy i draws the same
    normals as the single env seeded with ``seed + i``.
    """

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        kT: float = DEFAULT_KT,
        dt: float = DEFAULT_DT,
        max_force: float = 1000.0,
        start: Any = "A",
        max_steps: int | None = 1000,
        dtype: torch.dtype | str = torch.float32,
    ) -> None:
        _check(kT, dt, max_force)
        obs_space = spaces.Box(_LOW.astype(np.float32), _HIGH.astype(np.float32), dtype=np.float32)
        act_space = spaces.Box(-float(max_force), float(max_force), (2,), np.float32)
        super().__init__(num_envs, device, obs_space, act_space, max_steps)
        if isinstance(dtype, str):
            dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.dtype = dtype
        self.kT, self.dt, self.max_force = float(kT), float(dt), float(max_force)
        self.start = _start_point(start)
        self._noise_scale = math.sqrt(2.0 * self.kT * self.dt)
        self._low = torch.as_tensor(_LOW, dtype=dtype, device=self.device)
        self._high = torch.as_tensor(_HIGH, dtype=dtype, device=self.device)
        self._noise_ch = torch.as_tensor(_NOISE_CH, device=self.device)
        self._start_ch = torch.as_tensor(_START_CH, device=self.device)
        self._x = torch.zeros(self.num_envs, 2, dtype=dtype, device=self.device)
        # Made once: a tensor made from Python numbers at every step is a host-to-device copy on a GPU.
        self._start_x = None if self.start is None else torch.as_tensor(self.start, dtype=dtype, device=self.device)

    @property
    def map_bounds(self) -> MapBounds:
        return BOUNDS

    def _init_state(self, mask: torch.Tensor) -> None:
        if self._start_x is None:
            u = self._uniform(self._start_ch).to(self.dtype)
            x = self._low + u * (self._high - self._low)
        else:
            x = self._start_x.expand(self.num_envs, 2)
        self._x = torch.where(mask[:, None], x, self._x)

    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        force = actions.to(self.dtype).clamp(-self.max_force, self.max_force)
        eps = self._normal(self._noise_ch, self.dtype)
        x = self._x + self.dt * (force - grad_potential(self._x)) + self._noise_scale * eps
        self._x = torch.maximum(torch.minimum(x, self._high), self._low)
        zeros = torch.zeros(self.num_envs, device=self.device)
        return zeros, torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _observe(self) -> torch.Tensor:
        return self._x.to(torch.float32)

    def _map_xy(self) -> torch.Tensor:
        return self._x.to(torch.float32)

    def _extra_info(self) -> dict[str, torch.Tensor]:
        return {"potential": potential(self._x)}

    def get_state(self) -> torch.Tensor:
        """(N, 2) positions in ``dtype``."""
        return self._x.clone()

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        s = states.to(self.dtype).reshape(-1, 2)
        self._x[idx] = torch.maximum(torch.minimum(s, self._high), self._low)
