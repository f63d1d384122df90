"""Counter-based random numbers shared by the single envs and their batched twins.

A batched twin must reproduce, copy by copy, the trajectory its single Gymnasium
env draws from the same seed. Sequential generators (numpy's ``Generator``,
``torch.Generator``) cannot do that without a Python loop over copies, so every
random draw of the project's envs is a pure function of a counter instead:

    u = hash(key, episode, step, channel)

``key`` comes from the reset seed, ``episode`` counts resets since seeding,
``step`` is the step index inside the episode and ``channel`` names the draw.
The hash uses only integer operations on values below 2**32 held in int64, so
numpy arrays and torch tensors (CPU or CUDA) give bit-identical results, and
uniform floats are built from 24 bits so that they are exact in float32.

Copy ``i`` of a twin reset with ``seed=s`` uses key ``s + i``: the same key that
Gymnasium's vector envs give their ``i``-th sub-env (``seed + i``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

_M32 = 0xFFFFFFFF
_MUL = 0x045D9F3B  # < 2**27, so (x < 2**32) * _MUL stays below 2**63
_GOLDEN = 0x7F4A7C15

# Channel blocks: draws made at reset and draws made during a step never collide.
RESET_STREAM = 0
STEP_STREAM = 1 << 20


def _mix(x: Any) -> Any:
    """Avalanche a 32-bit value held in int64 (numpy array or torch tensor)."""
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    return x ^ (x >> 16)


def fold_key(seed: Any) -> Any:
    """Fold non-negative int seeds (int, int64 array or tensor) into 32-bit keys."""
    if isinstance(seed, (int, np.integer)):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        seed = np.asarray([seed], dtype=np.int64)
        return int(fold_key(seed)[0])
    lo, hi = seed & _M32, (seed >> 32) & _M32
    return lo ^ _mix((hi + _GOLDEN) & _M32)


def key_episode_hash(key: Any, episode: Any) -> Any:
    """The (key, episode) part of :func:`hash_u32`; twins cache it per copy."""
    return _mix(_mix(key & _M32) ^ _mix((episode + _GOLDEN) & _M32))


def hash_from_key_episode(ke: Any, step: Any, channel: Any) -> Any:
    """Finish :func:`hash_u32` from a cached :func:`key_episode_hash`."""
    h = _mix(ke ^ _mix((step + 2 * _GOLDEN) & _M32))
    return _mix(h ^ _mix((channel + 3 * _GOLDEN) & _M32))


def hash_u32(key: Any, episode: Any, step: Any, channel: Any) -> Any:
    """32-bit hash of the counters; all arguments broadcast (int64, values >= 0)."""
    return hash_from_key_episode(key_episode_hash(key, episode), step, channel)


def uniform_np(key: int, episode: int, step: int, channels: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), float32, one per channel. ``channels``: (C,) int64."""
    h = hash_u32(np.int64(key), np.int64(episode), np.int64(step), channels.astype(np.int64))
    return (h >> 8).astype(np.float32) * np.float32(2.0**-24)


def uniform_torch(ke: torch.Tensor, step: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """Batched twin of :func:`uniform_np` from cached (key, episode) hashes.

    ke: (N,) from :func:`key_episode_hash`; step: (N,) int64; channels: (C,)
    int64 -> (N, C) float32.
    """
    h = hash_from_key_episode(ke[:, None], step[:, None], channels[None, :])
    return (h >> 8).to(torch.float32) * (2.0**-24)


def normal_np(key: int, episode: int, step: int, channels: np.ndarray) -> np.ndarray:
    """Standard normals (float64) by Box-Muller; ``channels``: (2K,) -> (2K,).

    Channel pairs (2j, 2j+1) give the two uniforms of one Box-Muller draw, which
    yields the two normals cos/sin, so the output has as many entries as channels.
    """
    h = hash_u32(np.int64(key), np.int64(episode), np.int64(step), channels.astype(np.int64))
    u = (h.astype(np.float64) + 1.0) / 2.0**32  # (0, 1]: log is finite
    u1, u2 = u[0::2], u[1::2]
    r = np.sqrt(-2.0 * np.log(u1))
    out = np.empty_like(u)
    out[0::2] = r * np.cos(2.0 * math.pi * u2)
    out[1::2] = r * np.sin(2.0 * math.pi * u2)
    return out


def normal_torch(
    ke: torch.Tensor,
    step: torch.Tensor,
    channels: torch.Tensor,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Batched twin of :func:`normal_np`: (N,) cached hashes and steps, (2K,) channels -> (N, 2K)."""
    h = hash_from_key_episode(ke[:, None], step[:, None], channels[None, :])
    u = (h.to(dtype) + 1.0) * (2.0**-32)
    u1, u2 = u[:, 0::2], u[:, 1::2]
    r = torch.sqrt(-2.0 * torch.log(u1))
    theta = (2.0 * math.pi) * u2
    out = torch.stack((r * torch.cos(theta), r * torch.sin(theta)), dim=-1)
    return out.reshape(u.shape)


class CounterRNG:
    """Counter state of one single env: key from the seed, episode and step counters.

    Mirrors what :class:`envs.base.TwinEnv` keeps per copy, so a single env
    and copy ``i`` of its twin draw identical numbers.
    """

    _key: int = 0
    _episode: int = 0
    _t: int = 0
    _counter_seeded: bool = False

    def _reset_counters(self, seed: int | None, np_random: np.random.Generator) -> None:
        if seed is not None:
            self._key, self._episode = fold_key(seed), 0
            self._counter_seeded = True
        elif not self._counter_seeded:
            self._key, self._episode = int(np_random.integers(0, 2**32)), 0
            self._counter_seeded = True
        else:
            self._episode += 1
        self._t = 0

    def _uniform(self, channels: np.ndarray) -> np.ndarray:
        """(C,) float32 uniforms at the current (key, episode, step)."""
        return uniform_np(self._key, self._episode, self._t, channels)

    def _normal(self, channels: np.ndarray) -> np.ndarray:
        """(C,) float64 standard normals at the current (key, episode, step)."""
        return normal_np(self._key, self._episode, self._t, channels)
