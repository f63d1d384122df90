"""The batched environment contract, and the bookkeeping shared by tensor twins.

``BatchedEnv`` is what agents and experiments talk to: ``N`` copies of one
world stepped at once, tensors in and out on one ``device``.

Conventions (every implementation follows them):

- ``reset(seed=None) -> obs``: (N, obs_dim) float32. Copy ``i`` is seeded with
  ``seed + i`` (Gymnasium's vector convention). ``last_info`` holds the reset info.
- ``step(actions) -> obs, reward, terminated, truncated, info``:
  actions are a tensor: ``Discrete`` -> (N,) long, ``Box`` -> (N, act_dim) float,
  ``MultiDiscrete``/``MultiBinary`` -> (N, k) long; obs (N, obs_dim) float32;
  reward (N,) float32; terminated / truncated (N,) bool.
- **Autoreset: Gymnasium's ``AutoresetMode.SAME_STEP``.** A copy whose episode
  ends in this step is reset inside the same call: the returned ``obs`` row is
  already the first observation of its next episode, and the observation the
  step actually produced is in ``info["final_obs"]``. ``info["final_obs"]`` is
  a full (N, obs_dim) tensor equal to ``obs`` on rows that did not end, so a
  transition is always ``(obs_t, action_t, info["final_obs"])``.
- ``info`` always holds ``"map_xy"`` (N, 2) float32, the map coordinate of the
  returned ``obs``, ``"final_map_xy"`` (N, 2) of ``final_obs``, and
  ``"final_obs"``; envs add their own keys (documented per env), each a tensor
  with leading dimension N describing the returned ``obs``.
- **Run metrics** (read by the experiment driver, which knows no particular
  world): ``info["metrics"]``, a dict ``name -> (N,) float`` of per-copy values
  of this step (a run reports their mean over copy-steps as ``<name>``; names
  in the env's ``late_metrics`` over the run's second half only);
  ``info["is_success"]`` (N,) bool where the env has a notion of success
  (Gymnasium's convention); optionally ``summary_metrics() -> dict[str, float]``
  for run-level figures the env keeps itself.
- ``map_bounds``: ((xmin, xmax), (ymin, ymax)) of ``map_xy``; ``grid_shape``
  (nx, ny) cuts that rectangle into cells for coverage (``map_cells``).
- ``set_state(indices, states)`` puts chosen copies in chosen states (format
  per env, see ``state_dim`` and ``get_state``), restarting their episode
  clock, and returns the full (N, obs_dim) observation.
"""

from __future__ import annotations

import abc
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from envs import noise

MapBounds = tuple[tuple[float, float], tuple[float, float]]


def as_device(device: str | torch.device | None) -> torch.device:
    """A ``torch.device`` from a name, with a clear error for unknown names."""
    try:
        return torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device (try 'cpu' or 'cuda')") from exc


class BatchedEnv(abc.ABC):
    """N copies of one environment stepped at once as tensors (see module doc)."""

    autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP
    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    #: Names in ``info["metrics"]`` that a run averages over its second half only.
    late_metrics: tuple[str, ...] = ()
    #: Without ``info["is_success"]``: does an episode that ended by termination count as a
    #: success (it reached the goal, as in GridMaze or MountainCar) or not (CartPole's pole fell)?
    terminal_is_success: bool = True
    #: Names of the two map axes (``info["map_xy"]``), for the maps' labels.
    map_labels: tuple[str, str] = ("x", "y")

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device,
        single_observation_space: spaces.Space,
        single_action_space: spaces.Space,
    ) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.device = as_device(device)
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.obs_dim = int(spaces.flatdim(single_observation_space))
        self.last_info: dict[str, Any] = {}

    # ----------------------------------------------------------------- spaces
    @property
    def action_is_discrete(self) -> bool:
        """True for a ``Discrete`` action space (actions are (N,) long indices)."""
        return isinstance(self.single_action_space, spaces.Discrete)

    @property
    def num_actions(self) -> int:
        """Number of discrete actions; error for non-``Discrete`` action spaces."""
        if not self.action_is_discrete:
            raise TypeError(f"num_actions needs a Discrete action space, not {self.single_action_space}")
        return int(cast(spaces.Discrete, self.single_action_space).n)

    @property
    def action_dim(self) -> int:
        """Width of one action as an agent encodes it (one-hot size for Discrete)."""
        return int(spaces.flatdim(self.single_action_space))

    # ------------------------------------------------------------------- core
    @abc.abstractmethod
    def reset(self, seed: int | None = None, options: dict | None = None) -> torch.Tensor:
        """Reset all copies; returns obs (N, obs_dim). Info goes to ``last_info``."""

    @abc.abstractmethod
    def step(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step all copies (same-step autoreset); see the module doc for shapes."""

    def get_state(self) -> torch.Tensor:
        """Current states (N, state_dim); format per env."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its state")

    def set_state(self, indices: Any, states: Any) -> torch.Tensor:
        """Put copies ``indices`` (K,) in ``states`` (K, state_dim); returns obs (N, obs_dim)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be set to chosen states")

    def map_xy(self) -> torch.Tensor:
        """Map coordinate (N, 2) of the current observation."""
        return self.last_info["map_xy"]

    def close(self) -> None:  # noqa: B027 - a no-op default: twins hold nothing to release
        """Release resources (worker processes for adapted envs)."""

    # ---------------------------------------------------------------- helpers
    @property
    def map_bounds(self) -> MapBounds:
        """((xmin, xmax), (ymin, ymax)) of ``info["map_xy"]``."""
        return ((0.0, 1.0), (0.0, 1.0))

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(nx, ny) cells that ``map_cells`` cuts ``map_bounds`` into."""
        return (32, 32)

    @property
    def num_cells(self) -> int:
        nx, ny = self.grid_shape
        return nx * ny

    def map_cells(self, xy: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Cell index (B,) long of map coordinates (B, 2): ``iy * nx + ix``.

        On grid worlds the cells are exactly the maze cells; elsewhere a
        ``grid_shape`` grid over ``map_bounds`` (points outside are clamped).
        """
        xy = torch.as_tensor(xy)
        (x0, x1), (y0, y1) = self.map_bounds
        nx, ny = self.grid_shape
        fx = (xy[:, 0].double() - x0) / (x1 - x0) * nx
        fy = (xy[:, 1].double() - y0) / (y1 - y0) * ny
        ix = fx.floor().long().clamp(0, nx - 1)
        iy = fy.floor().long().clamp(0, ny - 1)
        return iy * nx + ix

    @property
    def reachable_cells(self) -> torch.Tensor | None:
        """Indices (M,) of the ``map_cells`` an agent can reach; None when unknown."""
        return None

    def sample_actions(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Uniformly random actions for all copies, in the format ``step`` takes."""
        space, n = self.single_action_space, self.num_envs
        # Draw where the generator lives (a CUDA generator cannot fill CPU tensors), then move.
        dev = generator.device if generator is not None else torch.device("cpu")
        if isinstance(space, spaces.Discrete):
            a = torch.randint(int(space.n), (n,), generator=generator, device=dev) + int(space.start)
        elif isinstance(space, spaces.Box):
            low = torch.as_tensor(np.maximum(space.low, -1e3), dtype=torch.float32, device=dev)
            high = torch.as_tensor(np.minimum(space.high, 1e3), dtype=torch.float32, device=dev)
            u = torch.rand((n, *space.shape), generator=generator, device=dev)
            a = (low + u * (high - low)).reshape(n, -1)
        elif isinstance(space, spaces.MultiDiscrete):
            nvec = torch.as_tensor(space.nvec.reshape(-1), dtype=torch.float64, device=dev)
            u = torch.rand((n, nvec.numel()), generator=generator, dtype=torch.float64, device=dev)
            a = (u * nvec).floor().long() + torch.as_tensor(space.start.reshape(-1), device=dev)
        elif isinstance(space, spaces.MultiBinary):
            a = torch.randint(2, (n, int(np.prod(space.shape))), generator=generator, device=dev)
        else:
            raise TypeError(f"sample_actions does not know action space {space}")
        return a.to(self.device)

    def as_vector_env(self) -> gym.vector.VectorEnv:
        """This env behind Gymnasium's ``VectorEnv`` interface (numpy in and out)."""
        from envs.vector import TwinVectorEnv

        return TwinVectorEnv(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_envs={self.num_envs}, device={self.device})"


def _as_index(indices: Any, n: int, device: torch.device) -> torch.Tensor:
    idx = torch.as_tensor(indices, device=device).reshape(-1)
    if idx.dtype == torch.bool:
        if idx.numel() != n:
            raise ValueError(f"a boolean index must have {n} entries, got {idx.numel()}")
        return idx.nonzero().reshape(-1)
    idx = idx.long()
    if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise IndexError(f"indices must lie in [0, {n}), got {idx.tolist()}")
    return idx % n


class TwinEnv(BatchedEnv):
    """Base of the project's tensor twins: episode clock, noise counters, autoreset.

    A subclass keeps its world state in tensors with leading dimension N and
    implements:

    - ``_init_state(mask)``: redraw the state of copies where ``mask`` (N,) is
      True, drawing randomness with ``self._uniform(RESET channels)``;
    - ``_advance(actions) -> (reward (N,), terminated (N,) bool)``: one step of
      every copy, drawing randomness with ``self._uniform(STEP channels)``;
    - ``_observe() -> (N, obs_dim)``, ``_map_xy() -> (N, 2)``,
      ``_extra_info() -> dict`` (tensors describing the current state);
    - optionally ``get_state`` / ``_write_state(idx, states)``.

    Randomness comes from :mod:`envs.noise`, keyed by (seed + i, episode, step),
    which is what makes each copy replay its single env exactly.
    """

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device,
        single_observation_space: spaces.Space,
        single_action_space: spaces.Space,
        max_steps: int | None,
    ) -> None:
        super().__init__(num_envs, device, single_observation_space, single_action_space)
        if max_steps is not None and (not isinstance(max_steps, (int, np.integer)) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        self.max_steps = None if max_steps is None else int(max_steps)
        n, dev = self.num_envs, self.device
        self._key = torch.zeros(n, dtype=torch.long, device=dev)
        self._episode = torch.zeros(n, dtype=torch.long, device=dev)
        self._t = torch.zeros(n, dtype=torch.long, device=dev)
        self._ke = noise.key_episode_hash(self._key, self._episode)  # cached per copy
        self._seeded = False
        self._needs_reset = True
        self._arange = torch.arange(n, device=dev)

    # ----------------------------------------------------------- randomness
    def _uniform(self, channels: torch.Tensor, step: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C) uniforms in [0, 1) for counter ``channels`` (C,) at ``step`` (N,)."""
        t = self._t if step is None else step
        return noise.uniform_torch(self._ke, t, channels)

    def _normal(self, channels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(N, C) standard normals for counter ``channels`` (C even) at the current step."""
        return noise.normal_torch(self._ke, self._t, channels, dtype)

    def _channels(self, stream: int, count: int, offset: int = 0) -> torch.Tensor:
        return torch.arange(stream + offset, stream + offset + count, device=self.device)

    # ------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _init_state(self, mask: torch.Tensor) -> None: ...

    @abc.abstractmethod
    def _advance(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    @abc.abstractmethod
    def _observe(self) -> torch.Tensor: ...

    @abc.abstractmethod
    def _map_xy(self) -> torch.Tensor: ...

    def _extra_info(self) -> dict[str, Any]:
        return {}

    def _write_state(self, idx: torch.Tensor, states: torch.Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be set to chosen states")

    # ------------------------------------------------------------- contract
    def reset(self, seed: int | None = None, options: dict | None = None) -> torch.Tensor:
        if seed is not None:
            if int(seed) < 0:
                raise ValueError(f"seed must be a non-negative int, got {seed}")
            self._key = noise.fold_key(int(seed) + self._arange)
            self._episode.zero_()
            self._seeded = True
        elif not self._seeded:
            base = int(np.random.SeedSequence().generate_state(1)[0])
            self._key = noise.fold_key(base + self._arange)
            self._episode.zero_()
            self._seeded = True
        else:
            self._episode += 1
        self._ke = noise.key_episode_hash(self._key, self._episode)
        self._t.zero_()
        self._init_state(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        self._needs_reset = False
        obs = self._observe()
        self.last_info = {"map_xy": self._map_xy(), **self._extra_info()}
        return obs

    def _check_actions(self, actions: Any) -> torch.Tensor:
        space = self.single_action_space
        a = torch.as_tensor(actions, device=self.device)
        n = self.num_envs
        if isinstance(space, spaces.Discrete):
            if a.ndim == 2 and a.shape[1] == 1:
                a = a[:, 0]
            if a.shape != (n,):
                raise ValueError(f"Discrete actions must have shape ({n},), got {tuple(a.shape)}")
            if a.is_floating_point():
                raise TypeError(f"Discrete actions must be integer indices, got dtype {a.dtype}")
            a = a.long()
            if a.device.type == "cpu" and n:  # on a GPU a failed device-side assert would end the process
                try:  # checked inside torch, not read back by Python: the step stays free of host reads
                    torch._assert_async(((a >= 0) & (a < space.n)).all())
                except RuntimeError:
                    raise ValueError(f"actions must lie in [0, {space.n}), got min {int(a.min())} "
                                     f"max {int(a.max())}") from None
            return a
        dim = int(np.prod(space.shape or ()))
        a = a.reshape(n, -1) if a.numel() == n * dim else a
        if a.shape != (n, dim):
            raise ValueError(f"Box actions must have shape ({n}, {dim}), got {tuple(a.shape)}")
        return a.to(torch.float32)

    def step(self, actions: Any):
        if self._needs_reset:
            raise RuntimeError(f"{type(self).__name__}.step() called before reset()")
        actions = self._check_actions(actions)
        reward, terminated = self._advance(actions)
        self._t += 1
        if self.max_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = (self._t >= self.max_steps) & ~terminated
        obs = self._observe()
        map_xy = self._map_xy()
        info: dict[str, Any] = {"final_obs": obs, "final_map_xy": map_xy}
        done = terminated | truncated
        # Same-step autoreset: done copies start their next episode now. Every copy takes this
        # path, masked by ``done`` (asking ``done.any()`` first would make a GPU wait every step).
        self._episode += done.long()
        self._ke = noise.key_episode_hash(self._key, self._episode)
        self._t = torch.where(done, torch.zeros_like(self._t), self._t)
        self._init_state(done)
        obs = self._observe()
        map_xy = self._map_xy()
        info["map_xy"] = map_xy
        info.update(self._extra_info())
        self.last_info = info
        return obs, reward.to(torch.float32), terminated, truncated, info

    def set_state(self, indices: Any, states: Any) -> torch.Tensor:
        if self._needs_reset:
            raise RuntimeError(f"{type(self).__name__}.set_state() called before reset()")
        idx = _as_index(indices, self.num_envs, self.device)
        states = torch.as_tensor(states, device=self.device)
        if states.ndim == 1:
            states = states[None, :].expand(idx.numel(), -1)
        if states.shape[0] != idx.numel():
            raise ValueError(f"got {idx.numel()} indices but {states.shape[0]} states")
        self._write_state(idx, states)
        self._t[idx] = 0
        obs = self._observe()
        self.last_info = {"map_xy": self._map_xy(), **self._extra_info()}
        return obs

