"""Batched flattening of Gymnasium spaces: whole batches to (N, D) arrays and back.

``flatten_batch(space, batch)`` equals stacking ``gymnasium.spaces.flatten``
row by row (same layout: ``Discrete`` and ``MultiDiscrete`` one-hot, ``Dict``
in the space's key order, ``Tuple`` in order), but works on the batched
structures that Gymnasium vector envs return, without a loop over rows.
``unflatten_batch`` inverts it; one-hot parts are decoded by argmax so that
agents may send scores instead of exact one-hots.

Supported: Box, Discrete, MultiDiscrete, MultiBinary, and Dict / Tuple of
those. Text, Graph, Sequence, OneOf have no fixed-size vector form and raise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.registry import UnsupportedSpaceError

SUPPORTED = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict, spaces.Tuple)


def check_space(space: spaces.Space, where: str = "space") -> None:
    """Raise a clear ``UnsupportedSpaceError`` (a ``TypeError``) if ``space`` (or a part of it) cannot be flattened."""
    if isinstance(space, spaces.Dict):
        for k, sub in space.spaces.items():
            check_space(sub, f"{where}[{k!r}]")
    elif isinstance(space, spaces.Tuple):
        for i, sub in enumerate(space.spaces):
            check_space(sub, f"{where}[{i}]")
    elif not isinstance(space, SUPPORTED):
        names = ", ".join(s.__name__ for s in SUPPORTED)
        raise UnsupportedSpaceError(f"{where} is {space!r}, which has no fixed-size flat form; supported spaces: {names}")


def flatten_batch(space: spaces.Space, batch: Any) -> np.ndarray:
    """Flatten a batch of N elements of ``space`` to float32 (N, flatdim)."""
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        x = np.asarray(batch)
        return x.reshape(x.shape[0], -1).astype(np.float32)
    if isinstance(space, spaces.Discrete):
        x = np.asarray(batch).reshape(-1) - space.start
        out = np.zeros((x.shape[0], int(space.n)), np.float32)
        out[np.arange(x.shape[0]), x] = 1.0
        return out
    if isinstance(space, spaces.MultiDiscrete):
        x = np.asarray(batch)
        n = x.shape[0]
        x = (x - space.start).reshape(n, -1)
        nvec = space.nvec.reshape(-1)
        offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
        out = np.zeros((n, int(nvec.sum())), np.float32)
        out[np.arange(n)[:, None], offsets[None, :] + x] = 1.0
        return out
    if isinstance(space, spaces.Dict):
        return np.concatenate([flatten_batch(sub, batch[k]) for k, sub in space.spaces.items()], axis=1)
    if isinstance(space, spaces.Tuple):
        return np.concatenate([flatten_batch(sub, b) for sub, b in zip(space.spaces, batch)], axis=1)
    check_space(space)
    raise AssertionError("unreachable")


def unflatten_batch(space: spaces.Space, flat: np.ndarray) -> Any:
    """Invert :func:`flatten_batch`: (N, flatdim) -> a batch of N elements of ``space``."""
    flat = np.asarray(flat)
    n = flat.shape[0]
    if isinstance(space, spaces.Box):
        return flat.reshape(n, *space.shape).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return (flat.reshape(n, *space.shape) > 0.5).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        return (np.argmax(flat, axis=1) + space.start).astype(space.dtype)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = space.nvec.reshape(-1)
        bounds = np.cumsum(nvec)[:-1]
        parts = np.split(flat, bounds, axis=1)
        idx = np.stack([np.argmax(p, axis=1) for p in parts], axis=1)
        return (idx.reshape(n, *space.nvec.shape) + space.start).astype(space.dtype)
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        subs = list(space.spaces.values()) if isinstance(space, spaces.Dict) else list(space.spaces)
        sizes = [spaces.flatdim(s) for s in subs]
        parts = np.split(flat, np.cumsum(sizes)[:-1], axis=1)
        values = [unflatten_batch(s, p) for s, p in zip(subs, parts)]
        if isinstance(space, spaces.Dict):
            return dict(zip(space.spaces.keys(), values))
        return tuple(values)
    check_space(space)
    raise AssertionError("unreachable")
