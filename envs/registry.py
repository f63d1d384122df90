"""One registry of the project's environments, mirrored into Gymnasium.

Each entry names a single-copy Gymnasium env and its batched twin by lazy
``"module:Class"`` strings, so importing :mod:`envs` imports no env module.
Registering an id twice is an error. Every entry is also registered with
``gymnasium.register`` under the same id, so ``gymnasium.make("freeenergy/
DarkRoom-v0")`` and any Gymnasium tool can build the single env.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from freeenergy import entry_points

NAMESPACE = "freeenergy"


class EnvError(ValueError):
    """A bad environment request: unknown id, broken entry point, unusable space."""


class EnvNotFound(EnvError):
    """No project env, Gymnasium id or entry point matches the given name."""


class EntryPointError(EnvError, ImportError):
    """A ``"package.module:Attr"`` entry point that does not import or resolve."""


class UnsupportedSpaceError(EnvError, TypeError):
    """An observation or action space without a fixed-size flat form."""


@dataclass(frozen=True)
class EnvEntry:
    """A registered project env: ids, entry points and default kwargs."""

    id: str
    entry_point: str  # "module:Class" of the single gymnasium.Env
    twin_entry_point: str  # "module:Class" of the BatchedEnv twin
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def short_id(self) -> str:
        return self.id.split("/", 1)[-1]


_REGISTRY: dict[str, EnvEntry] = {}


def load_entry_point(entry_point: str) -> Any:
    """Import ``"package.module:Attr"``; clear errors when it does not resolve."""
    try:
        return entry_points.load(entry_point)
    except entry_points.EntryPointError as err:
        raise EntryPointError(str(err)) from err.__cause__


def register(
    id: str,
    entry_point: str,
    twin_entry_point: str,
    kwargs: dict[str, Any] | None = None,
    description: str = "",
) -> EnvEntry:
    """Register a project env (``"freeenergy/Name-vN"``); duplicates raise ``ValueError``."""
    if not id.startswith(f"{NAMESPACE}/"):
        raise ValueError(f"project env ids live in the '{NAMESPACE}/' namespace, got {id!r}")
    if id in _REGISTRY:
        raise ValueError(f"environment id {id!r} is already registered")
    entry = EnvEntry(id, entry_point, twin_entry_point, dict(kwargs or {}), description)
    _REGISTRY[id] = entry
    if id not in gym.registry:
        gym.register(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}))
    return entry


def resolve(name: str) -> EnvEntry | None:
    """The entry for a full id (``freeenergy/GridMaze-v0``) or a short one (``GridMaze-v0``).

    A short name that is also a Gymnasium id (``CartPole-v1``) keeps naming
    Gymnasium's env: only the full id gives the project's twin.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in gym.registry:
        return None
    return _REGISTRY.get(f"{NAMESPACE}/{name}")


def registered_ids() -> list[str]:
    """All project env ids, sorted."""
    return sorted(_REGISTRY)


def entries() -> list[EnvEntry]:
    return [_REGISTRY[k] for k in registered_ids()]
