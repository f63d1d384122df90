"""stable-baselines3 agents on the run driver.

SB3 owns its training loop (``model.learn``), so the driver is reached from
inside it: :class:`DriverCallback`, a plain ``BaseCallback``, hands every vec
step to :meth:`RunDriver.record` and stops ``learn`` when the run is done. The
algorithm is never subclassed. Checkpoints, interval metrics, maps and the
summary therefore come from the same driver as the planners'.

SB3's own figures (``train/*``: losses, entropy, KL, clip fraction, ...;
``rollout/*`` beside the driver's episode return and length) are caught by a
logger output of SB3's and passed through to the run's logs at each interval.
"""
from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter
from stable_baselines3.common.logger import Logger as SB3Logger

from agents.bonus import BonusTransform, SurpriseBonusVecEnv, find_bonus_wrapper
from experiments import agent_table
from experiments.config import Config, ConfigError
from experiments.context import RunContext
from experiments.driver import RunDriver, RunHook

#: Agent types learned by stable-baselines3: the rows of kind "sb3" in the agent table.
SB3_ALGOS = agent_table.of_kind("sb3")


#: SB3's own episode figures; the driver's (the env's reward, every agent alike) are logged instead.
DRIVER_KEYS = ("rollout/ep_rew_mean", "rollout/ep_len_mean")


class SB3Values(KVWriter):
    """An SB3 logger output that keeps the latest ``train/*`` and ``rollout/*`` numbers SB3 dumps."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        for key, value in key_values.items():
            if not key.startswith(("train/", "rollout/")) or key in DRIVER_KEYS or isinstance(value, (bool, str)):
                continue
            try:
                self.values[key] = float(value)  # numbers, numpy scalars, one-element tensors
            except (TypeError, ValueError):
                continue

    def pop(self) -> dict[str, float]:
        out, self.values = self.values, {}
        return out

    def close(self) -> None:
        pass


class SB3Hook(RunHook):
    """The SB3 policy and the bonus source as the driver sees them: state, bonus and SB3's own figures."""

    key = "sb3"

    def __init__(self, model: Any, transform: BonusTransform | None) -> None:
        self.model, self.transform = model, transform
        self.sb3 = SB3Values()
        model.set_logger(SB3Logger(folder=None, output_formats=[self.sb3]))

    def state_dict(self) -> dict:
        source: Any = None if self.transform is None else self.transform.source
        return {"policy": {k: v.detach().cpu() for k, v in self.model.policy.state_dict().items()},
                "bonus": None if source is None else source.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.policy.load_state_dict(state["policy"])
        source: Any = None if self.transform is None else self.transform.source
        if source is not None and state.get("bonus") is not None:
            source.load_state_dict(state["bonus"])

    def summary(self, tracker: Any) -> dict[str, Any]:
        """``samples_per_transition`` of a world-model bonus, as agents report it."""
        world = None if self.transform is None else self.transform.source.world
        return {} if world is None else {"samples_per_transition": world.samples_seen_per_transition}

    def interval_metrics(self) -> dict[str, float]:
        out = self.sb3.pop()
        if self.transform is None:
            return out
        wrapper = find_bonus_wrapper(self.model.get_env())
        stats = {} if wrapper is None else wrapper.pop_stats()
        return {**out, **{k if "/" in k else f"agent/{k}": v for k, v in stats.items()}}


class DriverCallback(BaseCallback):
    """Feeds each SB3 vec step to ``driver``; returns False (stop ``learn``) once the run is done.

    Args:
        driver: the run driver (already resumed).
        env: the BatchedEnv under SB3's ``VecEnv`` (its tensor ``last_info`` is read).
        transform: the reward bonus, or None; with one the extrinsic reward is
            recorded, and a world-model bonus's free energy too.
    """

    def __init__(self, *, driver: RunDriver, env: Any, transform: BonusTransform | None,
                 records_fe: bool) -> None:
        super().__init__(0)
        self.driver, self.env, self.transform, self.records_fe = driver, env, transform, records_fe

    def _on_training_start(self) -> None:
        self.driver.begin()

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        if self.transform is None:
            reward = torch.as_tensor(self.locals["rewards"])
        else:
            reward = torch.as_tensor([i["extrinsic_reward"] for i in infos])
        fe = self.transform.last_surprise if self.records_fe and self.transform is not None else None
        truncated = torch.as_tensor([bool(i.get("TimeLimit.truncated", False)) for i in infos])
        terminated = torch.as_tensor([bool(d) for d in self.locals["dones"]]) & ~truncated
        return self.driver.record(reward, terminated, self.env.last_info, fe, truncated=truncated)


def check_action_space(cfg: Config, action_space: Any) -> None:
    """Raise a ConfigError naming ``agent.type`` when that SB3 algorithm cannot act in ``action_space``."""
    from gymnasium import spaces

    # The action spaces each SB3 algorithm accepts (its ``supported_action_spaces``).
    table = {"ppo": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
             "a2c": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
             "dqn": (spaces.Discrete,), "sac": (spaces.Box,)}
    if isinstance(action_space, table[cfg.agent.type]):
        return
    valid = [name for name, ok in table.items() if isinstance(action_space, ok)] + ["fe", "afe", "random"]
    raise ConfigError(f"agent.type={cfg.agent.type!r} is invalid for env.id={cfg.env.id!r}, whose actions are "
                      f"{type(action_space).__name__}: expected one of {', '.join(valid)}")


def make_model(cfg: Config, venv: Any, ctx: RunContext) -> Any:
    """The SB3 algorithm ``agent.type`` on ``venv`` with ``agent.sb3_kwargs``."""
    from freeenergy.entry_points import load

    algo_cls = load(agent_table.AGENTS[cfg.agent.type].entry)
    check_action_space(cfg, venv.action_space)
    try:
        return algo_cls("MlpPolicy", venv, seed=ctx.seed, device=ctx.device, verbose=0,
                        **dict(cfg.agent.sb3_kwargs))
    except TypeError as err:
        raise ConfigError(f"agent.sb3_kwargs={dict(cfg.agent.sb3_kwargs)!r} is invalid for "
                          f"agent.type={cfg.agent.type!r}: {err}; expected keyword arguments of "
                          f"stable_baselines3.{algo_cls.__name__}") from err


def run_sb3(ctx: RunContext, env: Any, transform: BonusTransform | None, *,
            generator: torch.Generator) -> dict[str, Any]:
    """Train ``agent.type`` on ``env`` (with the bonus ``transform``) for ``cfg.run.steps`` steps."""
    from agents.sb3_env import BatchedVecEnv

    cfg = ctx.cfg
    venv: Any = BatchedVecEnv(env, seed=ctx.seed)
    if transform is not None:
        venv = SurpriseBonusVecEnv(venv, transform)
    model = make_model(cfg, venv, ctx)
    driver = RunDriver(ctx=ctx, env=env, hooks=[SB3Hook(model, transform)], generator=generator,
                       label=cfg.run.name or cfg.agent.type)
    start = driver.resume()
    callback = DriverCallback(driver=driver, env=env, transform=transform,
                              records_fe=transform is not None and transform.source.world is not None)
    with driver.running(closing=venv):
        model.learn(total_timesteps=(driver.steps - start) * env.num_envs, callback=[callback],
                    progress_bar=False)
    return driver.finish()
