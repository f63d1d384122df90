"""Any Gymnasium environment as a :class:`~envs.base.BatchedEnv`.

The env is built ``num_envs`` times and run through Gymnasium's
``SyncVectorEnv`` (default) or ``AsyncVectorEnv`` (``vectorization="async"``,
one process per copy), in ``AutoresetMode.SAME_STEP`` like the project's twins.
Observations of Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple
spaces are flattened to float32 (N, D) tensors (the layout of
``gymnasium.spaces.flatten``), so ``single_observation_space`` is the flattened
Box; the original is ``original_observation_space``. Actions: ``Discrete`` ->
(N,) long, ``Box`` -> (N, act_dim) float, ``MultiDiscrete``/``MultiBinary`` ->
(N, k) long; for ``Dict``/``Tuple`` action spaces send (N, flatdim) floats in
the flattened layout (one-hot parts are decoded by argmax).

**Map coordinate** (``info["map_xy"]``), from the ``map_xy`` argument:

- ``[i, j]``: flattened observation entries i and j;
- ``"package.module:function"`` or a callable: ``f(obs) -> (N, 2)`` on the
  batch of flattened observations (numpy float32 (N, D));
- ``None`` (default): the env's own ``info["map_xy"]`` when it reports one;
  for a ``Discrete(n)`` observation its index (``(i, 0)``), for a
  ``MultiDiscrete`` one its first two entries (decoded from the one-hot
  layout); otherwise entries ``[0, 1]`` of the flattened observation
  (``(obs_0, 0)`` when it has one entry). For MountainCar this is (position,
  velocity), for CartPole (cart position, cart velocity).

``map_bounds``: the env's ``map_bounds`` attribute when it has one; else the
cells of a grid read from the observation space (below); else the
observation-space bounds of the chosen entries when finite; else the running
range of the coordinates seen so far.

``grid_shape`` (the cells coverage counts), first that applies: the
``map_grid`` argument (config ``env.map_grid``); the env's ``grid_shape``
attribute; a grid read from the observation space (``Discrete(n)``: n x 1;
``MultiDiscrete([a, b, ...])``: a x b; an integer ``Box`` with finite bounds:
one cell per integer value of the two map entries), which is a guess and says
so in ``grid_source``; else 32 x 32 over ``map_bounds``. ``grid_source`` names
which, for the run's summary.

Optional env attributes read from the first copy: ``map_bounds``,
``reachable_cells``, ``grid_shape``, ``late_metrics``, ``map_labels``,
``title`` (how maps name the env, e.g. a MiniGrid level), and
``reachable_grows`` (True when ``reachable_cells`` grows as new layouts are
drawn; it is then gathered from every copy each time it is read).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from envs.base import BatchedEnv, MapBounds
from envs.flatten import check_space, flatten_batch, unflatten_batch
from envs.registry import UnsupportedSpaceError, load_entry_point

MapXY = Sequence[int] | str | Callable[[np.ndarray], np.ndarray] | None
_PASS_ACTIONS = (spaces.Discrete, spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)
#: Largest grid read from an observation space (cells); beyond it the default grid is used.
MAX_GUESSED_CELLS = 1 << 20
_OPTIONAL = ("map_bounds", "reachable_cells", "grid_shape", "late_metrics", "map_labels", "title",
             "reachable_grows")


class GymAdapter(BatchedEnv):
    """N copies of a Gymnasium env behind the BatchedEnv contract (see module doc).

    Args:
        env_fn: builds one ``gymnasium.Env``.
        num_envs: copies.
        device: where returned tensors live.
        vectorization: ``"sync"`` or ``"async"``.
        map_xy: map-coordinate rule (module doc).
        name: shown in error messages.
    """

    def __init__(
        self,
        env_fn: Callable[[], gym.Env],
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        vectorization: str = "sync",
        map_xy: MapXY = None,
        name: str = "env",
        terminal_is_success: bool = False,
        map_grid: Sequence[int] | None = None,
    ) -> None:
        if vectorization not in ("sync", "async"):
            raise ValueError(f"vectorization={vectorization!r}; valid: 'sync', 'async'")
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.name = name
        fns = [env_fn] * int(num_envs)
        if vectorization == "sync":
            vec = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        else:
            vec = AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        self.vec = vec
        try:
            check_space(vec.single_observation_space, f"observation space of {name!r}")
            check_space(vec.single_action_space, f"action space of {name!r}")
        except UnsupportedSpaceError:
            vec.close()
            raise
        self.original_observation_space = vec.single_observation_space
        self.original_action_space = vec.single_action_space
        obs_space = spaces.flatten_space(self.original_observation_space)
        act = self.original_action_space
        act_space = act if isinstance(act, _PASS_ACTIONS) else spaces.flatten_space(act)
        super().__init__(num_envs, device, obs_space, act_space)
        self._segments: list[int] = []
        self._map_rule, self._map_idx = self._parse_map_xy(map_xy)
        own = self._probe(env_fn)
        self._env_bounds, self._env_reachable, self._env_grid = own["map_bounds"], own["reachable_cells"], \
            own["grid_shape"]
        self.late_metrics = tuple(own["late_metrics"] or ())  # the env's run-metrics protocol, passed through
        self._own_labels, self.title = own["map_labels"], str(own["title"] or name)
        self.reachable_grows = bool(own["reachable_grows"])
        self._config_grid = None if map_grid is None else (int(map_grid[0]), int(map_grid[1]))
        self._space_grid = self._grid_from_space()
        # A plugged-in env's termination means success only when the user says so (MountainCar's
        # flag, not CartPole's fallen pole); its own info["is_success"] always wins.
        self.terminal_is_success = bool(terminal_is_success)
        self._seen_lo = np.full(2, np.inf)
        self._seen_hi = np.full(2, -np.inf)

    # ------------------------------------------------------------ map_xy
    def _parse_map_xy(self, map_xy: MapXY) -> tuple[Any, list[int] | None]:
        d = self.obs_dim
        space = self.original_observation_space
        one_d = isinstance(space, spaces.Discrete) or (isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1)
        if map_xy is None and one_d:
            self._segments = [int(space.n)] if isinstance(space, spaces.Discrete) else [int(n) for n in space.nvec[:2]]
            return "decode", None  # the index (or first two indices) behind the one-hot layout
        if map_xy is None:
            return "auto", ([0, 1] if d >= 2 else [0])
        if isinstance(map_xy, str):
            return load_entry_point(map_xy), None
        if callable(map_xy):
            return map_xy, None
        idx = list(map_xy)
        if len(idx) != 2 or not all(isinstance(i, (int, np.integer)) and -d <= i < d for i in idx):
            raise ValueError(
                f"map_xy={map_xy!r}: give two observation indices in [0, {d}), "
                "a 'module:function' string, or None"
            )
        return "indices", [int(i) for i in idx]

    def _probe(self, env_fn: Callable[[], gym.Env]) -> dict[str, Any]:
        """The env's own optional attributes (``_OPTIONAL``), None where it has none.

        Read from the first copy (sync) or from one probe copy built here
        (async): asking async workers for a missing attribute kills them.
        """
        if isinstance(self.vec, SyncVectorEnv):
            return _attrs(self.vec.envs[0].unwrapped)
        probe = env_fn()
        try:
            return _attrs(probe.unwrapped)
        finally:
            probe.close()

    def _grid_from_space(self) -> tuple[tuple[int, int], Any, str] | None:
        """(grid, bounds, description) of a grid read from the observation space, or None."""
        space = self.original_observation_space
        if self._map_rule == "decode":
            a, b = (self._segments + [1])[:2]
            grid, bounds = (a, b), ((0.0, float(a)), (0.0, float(b)))
        elif (self._map_rule in ("auto", "indices") and isinstance(space, spaces.Box)
              and np.issubdtype(space.dtype, np.integer) and self._map_idx and len(self._map_idx) == 2):
            lo, hi = (np.asarray(v, dtype=np.float64).reshape(-1)[self._map_idx] for v in (space.low, space.high))
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (hi - lo + 1).prod() > MAX_GUESSED_CELLS:
                return None
            grid = (int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1))
            bounds = ((lo[0] - 0.5, hi[0] + 0.5), (lo[1] - 0.5, hi[1] + 0.5))
        else:
            return None
        if grid[0] * grid[1] > MAX_GUESSED_CELLS:
            return None
        return grid, bounds, f"the {space} observation space"

    @property
    def grid_source(self) -> str:
        """Where ``grid_shape`` comes from, in words (the run's summary says it beside coverage)."""
        nx, ny = self.grid_shape
        if self._config_grid is not None:
            return "env.map_grid"
        if self._env_grid is not None:
            return "the env's grid_shape"
        if self._space_grid is not None:
            return f"a grid guessed from {self._space_grid[2]}; set env.map_grid to change it"
        return f"a default {nx}x{ny} grid over the map's range; set env.map_grid to change it"

    @property
    def map_labels(self) -> tuple[str, str]:  # type: ignore[override]
        """The map axes' names: the env's own, the observation entries, or the map function's."""
        if self._own_labels is not None:
            x, y = self._own_labels
            return str(x), str(y)
        if self._map_rule == "decode":
            kind = type(self.original_observation_space).__name__
            return (f"{kind} obs[0]", f"{kind} obs[1]") if len(self._segments) > 1 else (f"{kind} state", "-")
        if self._map_rule in ("auto", "indices") and self._map_idx and len(self._map_idx) == 2:
            i, j = self._map_idx
            return f"obs[{i}]", f"obs[{j}]"
        name = getattr(self._map_rule, "__name__", "map")
        return f"{name} x", f"{name} y"

    def _compute_map_xy(self, flat: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        rule = self._map_rule
        if rule in ("auto", "decode") and "map_xy" in info:
            xy = np.asarray(info["map_xy"], dtype=np.float32)
        elif rule == "decode":
            a = self._segments[0]
            x = flat[:, :a].argmax(axis=1) + 0.5
            y = flat[:, a:a + self._segments[1]].argmax(axis=1) + 0.5 if len(self._segments) > 1 else 0.5 + 0 * x
            xy = np.stack([x, y], axis=1)
        elif rule in ("auto", "indices"):
            cols = flat[:, self._map_idx]
            xy = cols if cols.shape[1] == 2 else np.concatenate([cols, np.zeros_like(cols)], axis=1)
        else:
            xy = np.asarray(rule(flat), dtype=np.float32)
            if xy.shape != (flat.shape[0], 2):
                raise ValueError(f"map_xy function {rule!r} returned shape {xy.shape}, expected ({flat.shape[0]}, 2)")
        xy = xy.reshape(-1, 2).astype(np.float32)
        if xy.size:
            self._seen_lo = np.minimum(self._seen_lo, xy.min(axis=0))
            self._seen_hi = np.maximum(self._seen_hi, xy.max(axis=0))
        return xy

    @property
    def map_bounds(self) -> MapBounds:
        if self._env_bounds is not None:
            (a, b), (c, d) = self._env_bounds
            return ((float(a), float(b)), (float(c), float(d)))
        if self._space_grid is not None:
            (a, b), (c, d) = self._space_grid[1]
            return ((float(a), float(b)), (float(c), float(d)))
        if self._map_rule in ("auto", "indices") and self._map_idx and len(self._map_idx) == 2:
            box = self.single_observation_space
            lo, hi = box.low[self._map_idx], box.high[self._map_idx]
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))
        lo, hi = self._seen_lo, self._seen_hi
        if not np.isfinite(lo).all():
            return ((0.0, 1.0), (0.0, 1.0))
        return ((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))

    @property
    def grid_shape(self) -> tuple[int, int]:
        for grid in (self._config_grid, self._env_grid, self._space_grid and self._space_grid[0]):
            if grid is not None:
                return (int(grid[0]), int(grid[1]))
        return super().grid_shape

    @property
    def reachable_cells(self) -> torch.Tensor | None:
        cells = self._env_reachable
        if self.reachable_grows:  # every copy's cells of the layouts it has drawn so far
            parts = [np.asarray(c, dtype=np.int64).reshape(-1) for c in self.vec.get_attr("reachable_cells")]
            cells = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return None if cells is None else torch.as_tensor(np.asarray(cells), device=self.device)

    # ------------------------------------------------------------ conversions
    def _tensor(self, x: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

    def _to_env_actions(self, actions: Any) -> Any:
        a = actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
        space, n = self.original_action_space, self.num_envs
        if isinstance(space, spaces.Discrete):
            a = a.reshape(-1)
            if a.shape != (n,):
                raise ValueError(f"Discrete actions must have shape ({n},), got {a.shape}")
            return a.astype(np.int64)
        if isinstance(space, (spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)):
            if a.size != n * int(np.prod(space.shape)):
                raise ValueError(f"actions must have shape ({n}, {int(np.prod(space.shape))}), got {a.shape}")
            return a.reshape(n, *space.shape).astype(space.dtype)
        return unflatten_batch(space, a.reshape(n, -1))

    def _extra(self, info: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in info.items():
            if k in ("final_obs", "_final_obs", "map_xy", "_map_xy"):
                continue
            if isinstance(v, np.ndarray) and v.dtype != object:
                out[k] = self._tensor(v)
            else:
                out[k] = v
        return out

    # ------------------------------------------------------------ contract
    def reset(self, seed: int | None = None, options: dict | None = None) -> torch.Tensor:
        obs, info = self.vec.reset(seed=seed, options=options)
        flat = flatten_batch(self.original_observation_space, obs)
        xy = self._compute_map_xy(flat, info)
        self.last_info = {**self._extra(info), "map_xy": self._tensor(xy)}
        return self._tensor(flat)

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = self.vec.step(self._to_env_actions(actions))
        flat = flatten_batch(self.original_observation_space, obs)
        xy = self._compute_map_xy(flat, info)
        final = flat
        final_xy = xy
        done_mask = info.get("_final_obs")
        if done_mask is not None and done_mask.any():
            final = flat.copy()
            rows = np.nonzero(done_mask)[0]
            for i in rows:  # only the copies that ended this step
                final[i] = spaces.flatten(self.original_observation_space, info["final_obs"][i])
            fin_info = info.get("final_info", {})
            final_xy = xy.copy()
            final_xy[rows] = self._compute_map_xy(final[rows], _rows_info(fin_info, rows))
        out = self._extra(info)
        if self.terminal_is_success and "is_success" not in out:
            out["is_success"] = self._tensor(terminated, torch.bool)
        out.update(
            map_xy=self._tensor(xy),
            final_obs=self._tensor(final),
            final_map_xy=self._tensor(final_xy),
        )
        self.last_info = out
        return (
            self._tensor(flat),
            self._tensor(reward, torch.float32),
            self._tensor(terminated, torch.bool),
            self._tensor(truncated, torch.bool),
            out,
        )

    def close(self) -> None:
        self.vec.close()


def _attrs(env: gym.Env) -> dict[str, Any]:
    return {k: getattr(env, k, None) for k in _OPTIONAL}


def _rows_info(info: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The ``map_xy`` of given rows from a vector info dict, when present."""
    if "map_xy" in info:
        return {"map_xy": np.asarray(info["map_xy"])[rows]}
    return {}


def make_env_fn(spec: str | Callable[..., gym.Env], **kwargs: Any) -> Callable[[], gym.Env]:
    """A zero-argument builder for a Gymnasium id, an entry point, or a callable."""
    if callable(spec):
        return lambda: spec(**kwargs)
    if ":" in spec:
        target = load_entry_point(spec)
        return lambda: target(**kwargs)
    return lambda: gym.make(spec, **kwargs)
