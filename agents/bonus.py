"""The intrinsic bonus for stable-baselines3: one transform over any intrinsic source.

Two halves (as in TorchRL's RND): an intrinsic *source*
(:mod:`agents.intrinsic`: the world model's surprise, RND, exact counts, ...)
that scores transitions and learns from what passes through it, and a
*transform* that turns its score into reward::

    reward' = int_coef * sign * score + ext_coef * reward

with ``sign = +1`` for a maximised source (adversarial free energy, novelty)
and ``-1`` for a minimised one (free energy). The amortised agent draws from
the same sources; here they score one vec step at a time.

:class:`SurpriseBonusVecEnv` is a ``VecEnvWrapper`` and
:class:`SurpriseBonusWrapper` a ``gymnasium.Wrapper``; either works unchanged
with PPO, A2C, DQN and SAC (no algorithm is subclassed).
:class:`BonusLoggingCallback` logs the bonus's figures.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch import Tensor

from agents.encoding import TransitionEncoder
from agents.intrinsic import SurpriseOptions
from agents.intrinsic.base import IntrinsicSource, Transitions
from agents.intrinsic.surprise import WorldModelSurprise
from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.protocol import Metrics, host_metrics
from freeenergy.models import build_world_model


class BonusTransform:
    """``reward' = int_coef * sign * score + ext_coef * reward`` over batches ``(B,)``.

    Args:
        source: the intrinsic source.
        int_coef: weight of the intrinsic term (>= 0).
        ext_coef: weight of the extrinsic reward (0 allowed).
        objective: ``MAXIMISE``: the score is rewarded (adversarial, novelty bonuses);
            ``MINIMISE``: it is penalised (free-energy minimiser).
        device: where the source's tensors live.
        fit_ratio: the source's learning steps per learning call.
        fit_every: learn on every ``fit_every``-th call only (one call per vec step); > 1
            amortises the source's steps over several batches of transitions.
    """

    def __init__(self, source: IntrinsicSource, int_coef: float = 1.0, ext_coef: float = 0.0,
                 objective: Objective = Objective.MAXIMISE, *, device: torch.device | str = "cpu",
                 fit_ratio: int = 1, fit_every: int = 1) -> None:
        if int(fit_every) < 1:
            raise ValueError(f"fit_every must be >= 1, got {fit_every}")
        self.source = source
        self.int_coef = float(int_coef)
        self.ext_coef = float(ext_coef)
        self.objective = Objective(objective)
        self.sign = self.objective.reward_sign
        self.device = torch.device(device)
        self.fit_ratio, self.fit_every = int(fit_ratio), int(fit_every)
        self.calls = 0
        self.last_surprise: Tensor | None = None
        self.last_metrics: Metrics = {}

    def __call__(self, obs: Tensor, actions: Tensor, next_obs: Tensor, reward: Tensor,
                 map_xy: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """New rewards ``(B,)`` and the score ``(B,)`` behind them (scored before learning)."""
        s = self.source.score(Transitions(obs, actions, next_obs, map_xy))
        reward = torch.as_tensor(reward, device=s.device, dtype=torch.float32).reshape(-1)
        out = self.int_coef * self.sign * s + self.ext_coef * reward
        self.last_surprise = s
        self.calls += 1
        steps = self.fit_ratio if self.calls % self.fit_every == 0 else 0
        self.last_metrics = self.source.learn(steps) or self.last_metrics
        return out, s


def _to_tensor(x: Any, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)


class SurpriseBonusVecEnv(VecEnvWrapper):
    """SB3 ``VecEnvWrapper`` adding the surprise bonus and training its source online.

    Transitions are ``(obs_t, action_t, obs_t+1)`` with ``obs_t+1`` taken from
    ``info["terminal_observation"]`` on rows whose episode ended. ``infos`` get
    ``intrinsic_surprise`` and ``extrinsic_reward``; ``map_xy`` is read from
    ``info["terminal_map_xy"]`` / ``info["map_xy"]`` when present (count bonus).
    """

    def __init__(self, venv: VecEnv, transform: BonusTransform) -> None:
        super().__init__(venv)
        self.transform = transform
        self.device = transform.device
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self.steps = 0
        self.surprise_sum = 0.0
        self.surprise_count = 0

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._last_obs = np.asarray(obs).copy()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).copy()
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        nxt = np.asarray(obs, dtype=np.float32).copy()
        xy = None
        if infos and "map_xy" in infos[0]:
            xy = np.stack([np.asarray(i.get("terminal_map_xy", i["map_xy"])) for i in infos])
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                nxt[i] = infos[i]["terminal_observation"]
        dev = self.device
        a = self._actions
        new_r, s = self.transform(_to_tensor(self._last_obs, dev, torch.float32), _to_tensor(a, dev),
                                  _to_tensor(nxt, dev), _to_tensor(rewards, dev, torch.float32),
                                  None if xy is None else _to_tensor(xy, dev, torch.float32))
        s_np = s.detach().cpu().numpy()
        for i, info in enumerate(infos):
            info["intrinsic_surprise"] = float(s_np[i])
            info["extrinsic_reward"] = float(rewards[i])
        self.steps += 1
        self.surprise_sum += float(s_np.sum())
        self.surprise_count += s_np.size
        self._last_obs = np.asarray(obs).copy()
        return obs, new_r.detach().cpu().numpy().astype(np.float32), dones, infos

    def pop_stats(self) -> dict[str, float]:
        """Mean surprise since the last call, plus the source's last learning metrics."""
        out = host_metrics(self.transform.last_metrics)
        if self.surprise_count:
            out["bonus/surprise"] = self.surprise_sum / self.surprise_count
        self.surprise_sum, self.surprise_count = 0.0, 0
        return out


class SurpriseBonusWrapper(gym.Wrapper):
    """Single-env ``gymnasium.Wrapper`` twin of :class:`SurpriseBonusVecEnv`.

    Observations must be arrays (Box); actions are passed to the source as a
    batch of one.
    """

    def __init__(self, env: gym.Env, transform: BonusTransform) -> None:
        super().__init__(env)
        self.transform = transform
        self.device = transform.device
        self._last_obs: np.ndarray | None = None

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._last_obs = np.asarray(obs, dtype=np.float32).copy()
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        dev = self.device
        xy = info.get("map_xy")
        new_r, s = self.transform(_to_tensor(self._last_obs[None], dev), _to_tensor(np.asarray(action)[None], dev),
                                  _to_tensor(np.asarray(obs, dtype=np.float32)[None], dev),
                                  _to_tensor([reward], dev, torch.float32),
                                  None if xy is None else _to_tensor(np.asarray(xy)[None], dev, torch.float32))
        info = dict(info)
        info["intrinsic_surprise"] = float(s[0])
        info["extrinsic_reward"] = float(reward)
        self._last_obs = np.asarray(obs, dtype=np.float32).copy()
        return obs, float(new_r[0]), terminated, truncated, info


def surprise_bonus(venv: VecEnv, *, model: str = "rae", objective: Objective | str = Objective.MAXIMISE,
                   int_coef: float = 1.0, ext_coef: float = 0.0, replay_capacity: int = 50_000,
                   batch_size: int = 128, fit_ratio: int = 1, device: torch.device | str = "cpu",
                   **options: Any) -> SurpriseBonusVecEnv:
    """Wrap any SB3 ``VecEnv`` (e.g. from ``make_vec_env``) with a world model's surprise bonus.

    ``model`` and ``options`` are a world model and its options, as the ``world_model`` config
    section takes them (e.g. ``hidden=64, passes=3``); the model learns online from the
    transitions that pass through, and ``objective`` says whether surprise is rewarded
    (``"maximise"``, adversarial) or penalised (``"minimise"``).
    """
    obs_dim = int(np.prod(venv.observation_space.shape))
    encoder = TransitionEncoder(obs_dim, venv.action_space, device)
    goal = Objective(objective)
    world = OnlineWorldModel(encoder=encoder, members=[build_world_model(model, encoder.dim, device, **options)],
                             replay_capacity=replay_capacity, batch_size=batch_size, device=device, objective=goal)
    source = WorldModelSurprise(world=world, options=SurpriseOptions())
    return SurpriseBonusVecEnv(venv, BonusTransform(source, int_coef, ext_coef, objective=goal, device=device,
                                                    fit_ratio=fit_ratio))


def find_bonus_wrapper(env: Any) -> SurpriseBonusVecEnv | None:
    """The :class:`SurpriseBonusVecEnv` inside a chain of SB3 VecEnv wrappers, if any."""
    while env is not None:
        if isinstance(env, SurpriseBonusVecEnv):
            return env
        env = getattr(env, "venv", None)
    return None


class BonusLoggingCallback(BaseCallback):
    """Logs the bonus figures (mean surprise, world-model loss) every ``interval`` calls.

    Figures go to SB3's logger (``bonus/...``) and, when given, to
    ``log_fn(metrics, step)`` with ``step`` = env steps per copy.
    """

    def __init__(self, interval: int = 100, log_fn: Callable[[dict[str, float], int], None] | None = None,
                 verbose: int = 0) -> None:
        super().__init__(verbose)
        self.interval = int(interval)
        self.log_fn = log_fn
        self.history: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        wrapper = find_bonus_wrapper(self.training_env)
        if wrapper is None or self.n_calls % self.interval:
            return True
        stats = wrapper.pop_stats()
        for k, v in stats.items():
            self.logger.record(k if "/" in k else f"bonus/{k}", v)
        self.history.append(stats)
        if self.log_fn is not None:
            self.log_fn(stats, self.n_calls)
        return True
