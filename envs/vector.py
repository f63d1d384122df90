"""A BatchedEnv behind Gymnasium's ``VectorEnv`` interface (numpy in and out).

``TwinVectorEnv(env)`` lets Gymnasium vector wrappers and tooling that speaks
``gymnasium.vector.VectorEnv`` drive a batched twin. Autoreset follows
``AutoresetMode.SAME_STEP`` as Gymnasium's own vector envs do in that mode:
on rows that ended, ``info["final_obs"]`` (an object array, ``None`` elsewhere,
mask ``info["_final_obs"]``) holds the last observation and
``info["final_info"]`` the map coordinate it had; ``obs`` is already the next
episode's first observation. Other info entries become numpy arrays (N, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

if TYPE_CHECKING:  # the twin is duck-typed here; envs.base builds this view of itself
    from envs.base import BatchedEnv


def _np(x: Any) -> Any:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


class TwinVectorEnv(gym.vector.VectorEnv):
    """Gymnasium ``VectorEnv`` view of a :class:`BatchedEnv` (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env: BatchedEnv) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = batch_space(env.single_observation_space, env.num_envs)
        self.action_space = batch_space(env.single_action_space, env.num_envs)
        self.render_mode = None

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        skip = ("final_obs", "final_map_xy")
        return {k: _np(v) for k, v in info.items() if k not in skip}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs = self.env.reset(seed=seed, options=options)
        return _np(obs), self._info(self.env.last_info)

    def step(self, actions: Any):
        a = torch.as_tensor(np.asarray(actions), device=self.env.device)
        obs, reward, terminated, truncated, info = self.env.step(a)
        done = _np(terminated | truncated)
        out = self._info(info)
        if done.any():
            final_obs = _np(info["final_obs"])
            boxed = np.full(self.num_envs, None, dtype=object)
            for i in np.nonzero(done)[0]:  # object array, as Gymnasium builds it
                boxed[i] = final_obs[i]
            out["final_obs"], out["_final_obs"] = boxed, done
            out["final_info"] = {"map_xy": _np(info["final_map_xy"]), "_map_xy": done}
            out["_final_info"] = done
        return (
            _np(obs),
            _np(reward).astype(np.float64),
            _np(terminated),
            _np(truncated),
            out,
        )

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()
