"""A :class:`envs.base.BatchedEnv` behind stable-baselines3's ``VecEnv`` interface.

The batched env steps all copies as one tensor program; this adapter converts
at the boundary (numpy in and out) and follows SB3's conventions: same-step
autoreset, the last observation of an ended episode in
``info["terminal_observation"]`` (and its map coordinate in
``info["terminal_map_xy"]``), ``info["TimeLimit.truncated"]`` on truncation.
``last_info`` keeps the env's tensor info of the latest step for bookkeeping.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv

from envs.base import BatchedEnv


class BatchedVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a ``BatchedEnv`` (Box or Discrete actions).

    Args:
        env: the batched env.
        seed: seed of the first ``reset`` (copy ``i`` gets ``seed + i``).
    """

    def __init__(self, env: BatchedEnv, seed: int | None = None) -> None:
        obs_space = env.single_observation_space
        if not isinstance(obs_space, spaces.Box):
            obs_space = spaces.flatten_space(obs_space)
        self.env = env  # before VecEnv.__init__, which asks for render_mode
        super().__init__(env.num_envs, obs_space, env.single_action_space)
        self._seed = seed
        self._actions: np.ndarray | None = None
        self.last_info: dict[str, Any] = {}

    def reset(self) -> np.ndarray:
        obs = self.env.reset(seed=self._seed)
        self._seed = None  # later resets continue the seeded streams
        self.last_info = self.env.last_info
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs.detach().cpu().numpy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        a = torch.as_tensor(self._actions, device=self.env.device)
        if isinstance(self.env.single_action_space, spaces.Discrete):
            a = a.reshape(-1).long()
        obs, rew, term, trunc, info = self.env.step(a)
        self.last_info = info
        done = (term | trunc).cpu().numpy()
        obs_np = obs.detach().cpu().numpy()
        xy = info["map_xy"].detach().cpu().numpy()
        infos: list[dict[str, Any]] = [{"map_xy": xy[i]} for i in range(self.num_envs)]
        if done.any():
            final = info["final_obs"].detach().cpu().numpy()
            final_xy = info["final_map_xy"].detach().cpu().numpy()
            t, tr = term.cpu().numpy(), trunc.cpu().numpy()
            for i in np.flatnonzero(done):
                infos[i]["terminal_observation"] = final[i]
                infos[i]["terminal_map_xy"] = final_xy[i]
                infos[i]["TimeLimit.truncated"] = bool(tr[i] and not t[i])
        return obs_np, rew.detach().cpu().numpy().astype(np.float32), done, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":  # SB3 asks; batched envs do not render
            return [getattr(self.env, "render_mode", None)] * len(self._get_indices(indices))
        return [getattr(self.env, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list:
        out = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [out] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def seed(self, seed: int | None = None) -> Sequence[None]:  # type: ignore[override]
        self._seed = seed
        return [None] * self.num_envs
