"""Environments: the project's Gymnasium worlds, their batched twins, any Gymnasium env.

``make(spec, num_envs, device, **kwargs)`` returns a :class:`BatchedEnv` for

- a project id, full (``"freeenergy/DarkRoom-v0"``) or short (``"DarkRoom-v0"``,
  unless that is also a Gymnasium id, as ``"CartPole-v1"``): its batched torch
  twin (``backend="gymnasium"`` runs the single env through Gymnasium's vector
  API instead);
- any registered Gymnasium id (``"MountainCar-v0"``, ``"CartPole-v1"``, MiniGrid
  ids when ``minigrid`` is installed): through :class:`GymAdapter`;
- an entry point ``"package.module:ClassName"``: a ``BatchedEnv`` subclass is
  built directly, anything else (a ``gymnasium.Env`` class or factory) through
  :class:`GymAdapter`.

Keyword arguments go to the env, except the adapter's own ``vectorization``
(``"sync"``/``"async"``) and ``map_xy`` (see :mod:`envs.gym_adapter`).
Importing this package registers every project env with Gymnasium too.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium as gym
import torch

from envs.base import BatchedEnv, TwinEnv
from envs.gym_adapter import GymAdapter, make_env_fn
from envs.registry import (
    EntryPointError,
    EnvError,
    EnvNotFound,
    UnsupportedSpaceError,
    load_entry_point,
    register,
    registered_ids,
    resolve,
)

__all__ = [
    "BatchedEnv",
    "TwinEnv",
    "GymAdapter",
    "make",
    "register",
    "registered_ids",
    "EnvError",
    "EnvNotFound",
    "EntryPointError",
    "UnsupportedSpaceError",
]

_M = "envs"
register(
    "freeenergy/GridMaze-v0",
    f"{_M}.gridmaze:GridMaze",
    f"{_M}.gridmaze:GridMazeTwin",
    description="grid maze from a layout string (default FourRooms); obs = position",
)
register(
    "freeenergy/FourRooms-v0",
    f"{_M}.gridmaze:GridMaze",
    f"{_M}.gridmaze:GridMazeTwin",
    kwargs={"layout": "fourrooms"},
    description="GridMaze on the 13x13 FourRooms layout",
)
register(
    "freeenergy/MultiRoom-v0",
    f"{_M}.gridmaze:GridMaze",
    f"{_M}.gridmaze:GridMazeTwin",
    kwargs={"layout": "multiroom"},
    description="GridMaze on a 25x25 maze of nine rooms",
)
register(
    "freeenergy/DarkRoom-v0",
    f"{_M}.darkroom:DarkRoom",
    f"{_M}.darkroom:DarkRoomTwin",
    description="room with uncontrollable flicker and a light switch; dark = constant obs",
)
register(
    "freeenergy/NoisyTV-v0",
    f"{_M}.noisytv:NoisyTV",
    f"{_M}.noisytv:NoisyTVTwin",
    description="FourRooms with a TV cell showing irreducible noise",
)
register(
    "freeenergy/PointMaze-v0",
    f"{_M}.pointmaze:PointMaze",
    f"{_M}.pointmaze:PointMazeTwin",
    description="continuous 2-D point mass in a walled maze, Box actions",
)
register(
    "freeenergy/MullerBrown-v0",
    f"{_M}.muller_brown:MullerBrown",
    f"{_M}.muller_brown:MullerBrownTwin",
    description="overdamped Langevin dynamics in the Muller-Brown potential, force action",
)
register(
    "freeenergy/LargeMaze-v0",
    f"{_M}.largemaze:LargeMaze",
    f"{_M}.largemaze:LargeMazeTwin",
    description="seeded procedural maze: long corridors, dead ends, rooms (size, rooms, layout_seed)",
)
register(
    "freeenergy/DeepSea-v0",
    f"{_M}.deepsea:DeepSea",
    f"{_M}.deepsea:DeepSeaTwin",
    description="bsuite DeepSea: size N, per-cell action mapping, +1 only at the far corner",
)
register(
    "freeenergy/CartPole-v1",
    f"{_M}.cartpole:CartPole",
    f"{_M}.cartpole:CartPoleTwin",
    description="Gymnasium's CartPole-v1 (same physics, truncation at 500) as a batched twin",
)

_ADAPTER_KEYS = ("vectorization", "map_xy", "terminal_is_success", "map_grid")


def _suggest(spec: str) -> str:
    # Project ids are also mirrored in Gymnasium's registry: de-duplicate, keep order.
    names = list(dict.fromkeys(registered_ids() + [i.split("/", 1)[-1] for i in registered_ids()]
                               + list(gym.registry.keys())))
    close = difflib.get_close_matches(spec, names, n=5, cutoff=0.5)
    return f"; did you mean {close}?" if close else ""


def make(
    spec: str | type,
    num_envs: int = 1,
    device: str | torch.device = "cpu",
    backend: str = "twin",
    **kwargs: Any,
) -> BatchedEnv:
    """Build ``num_envs`` copies of an environment as a :class:`BatchedEnv` (see module doc).

    Args:
        spec: project id, Gymnasium id, ``"package.module:ClassName"``, or a class.
        num_envs: copies N.
        device: torch device of the returned tensors (and of a twin's state).
        backend: for project ids, ``"twin"`` (batched tensors) or ``"gymnasium"``.
        **kwargs: env kwargs, plus ``vectorization`` / ``map_xy`` for adapted envs.
    """
    if backend not in ("twin", "gymnasium"):
        raise EnvError(f"backend={backend!r}; valid: 'twin', 'gymnasium'")
    adapter_kw = {k: kwargs.pop(k) for k in _ADAPTER_KEYS if k in kwargs}
    target: Any
    name = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
    if isinstance(spec, str):
        entry = resolve(spec)
        if entry is not None:
            env_kwargs = {**entry.kwargs, **kwargs}
            if backend == "twin" and not adapter_kw:
                twin = load_entry_point(entry.twin_entry_point)
                return twin(num_envs=num_envs, device=device, **env_kwargs)
            fn = make_env_fn(entry.entry_point, **env_kwargs)
            return GymAdapter(fn, num_envs, device, name=entry.id, **adapter_kw)
        if ":" in spec:
            target = load_entry_point(spec)
        elif spec in gym.registry:
            return GymAdapter(make_env_fn(spec, **kwargs), num_envs, device, name=spec, **adapter_kw)
        else:
            raise EnvNotFound(
                f"unknown environment {spec!r}{_suggest(spec)} (give a project id, a Gymnasium id, "
                "or 'package.module:ClassName')"
            )
    else:
        target = spec
    if isinstance(target, type) and issubclass(target, BatchedEnv):
        if adapter_kw:
            raise ValueError(f"{name!r} is a BatchedEnv; {sorted(adapter_kw)} apply only to Gymnasium envs")
        return target(num_envs=num_envs, device=device, **kwargs)
    if not callable(target):
        raise EnvError(f"{name!r} resolves to {target!r}, which is neither a gymnasium.Env class nor a factory")
    return GymAdapter(make_env_fn(target, **kwargs), num_envs, device, name=name, **adapter_kw)
