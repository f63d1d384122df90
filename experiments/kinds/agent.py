"""The ``agent`` experiment: an agent explores a batched env while its world model learns.

Planning agents (``fe``, ``afe``) and the random baseline run on the driver's
Agent-contract loop (:func:`experiments.driver.run_agent`); stable-baselines3
algorithms (``ppo``, ``a2c``, ``dqn``, ``sac``) learn through
:class:`agents.bonus.SurpriseBonusVecEnv` with the bonus named by
``agent.intrinsic.name`` and reach the same driver through a callback
(:mod:`experiments.kinds.sb3`). Both report the same summary keys:

``env_steps``, ``env_steps_per_second``, ``coverage``, ``unique_cells``,
``final_free_energy`` (mean free energy of real transitions over the last
logging interval), ``success_rate`` (share of copies that succeeded at least
once: ``info["is_success"]``, else an episode ended by termination, e.g.
MountainCar's flag), and each metric the env reports in ``info["metrics"]``
(e.g. DarkRoom's ``dark_fraction``, NoisyTV's ``tv_fraction``; see
:mod:`experiments.tracker`).
"""
from __future__ import annotations

from typing import Any

import torch

from experiments.build import make_agent, make_bonus, make_env, make_restarts
from experiments.config import Config
from experiments.context import RunContext
from experiments.driver import StepHook, run_agent
from experiments.kinds.sb3 import SB3_ALGOS
from experiments.tracker import Tracker

__all__ = ["make_agent", "make_env", "run"]  # the builders live in experiments.build


# ------------------------------------------------------------------ the run
class RareStateHook(StepHook):
    """Rare-state biasing (a heuristic) around each agent step, and its summary."""

    def __init__(self, rare: Any, cfg: Config, device: torch.device, seed: int) -> None:
        self.rare, self.cfg, self.device, self.seed = rare, cfg, device, seed

    def before_step(self, env: Any, agent: Any) -> None:
        self.rare.before_step(env, agent)

    def after_step(self, env: Any, agent: Any, fe: torch.Tensor | None, next_obs: torch.Tensor,
                   step: int) -> torch.Tensor:
        return self.rare.after_step(env, agent, fe, next_obs, step)

    def summary(self, tracker: Tracker) -> dict[str, Any]:
        from agents.rare_state import rare_visit_summary

        reference = make_env(self.cfg, self.device)  # random play in a fresh copy of the world
        return {**self.rare.summary(),
                **rare_visit_summary(reference, self.cfg.run.steps, self.seed, tracker.vis)}


class RestartsHook(StepHook):
    """Return, then explore (:mod:`agents.restarts`): the same restarts for every agent type."""

    key = "restarts"

    def __init__(self, restarts: Any) -> None:
        self.restarts = restarts

    def before_step(self, env: Any, agent: Any) -> None:
        self.restarts.before_step(env)

    def observed(self, step: Any) -> None:
        self.restarts.observed(step)

    def after_step(self, env: Any, agent: Any, fe: torch.Tensor | None, next_obs: torch.Tensor,
                   step: int) -> torch.Tensor:
        return self.restarts.after_step(env, agent, next_obs, step)

    def state_dict(self) -> dict:
        return self.restarts.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.restarts.load_state_dict(state)

    def summary(self, tracker: Tracker) -> dict[str, Any]:
        return self.restarts.summary()


def run(ctx: RunContext) -> dict:
    """Run ``cfg.agent`` in ``cfg.env`` for ``cfg.run.steps`` steps per copy; return the summary."""
    cfg, device = ctx.cfg, ctx.device
    generator = torch.Generator(device=device)
    generator.manual_seed(ctx.seed)
    from experiments.scale.distributed import check_single_process, current

    job, tracker = current(), None  # job: a torchrun data-parallel run (experiments.scale.distributed)
    if job is not None:
        from experiments.scale.data_parallel import setup

        ctx, env, agent, tracker = setup(ctx, generator)
    else:
        check_single_process(ctx.load_checkpoint())
        env = make_env(cfg, device)
    if cfg.agent.type in SB3_ALGOS:
        from experiments.kinds.sb3 import run_sb3

        return run_sb3(ctx, env, make_bonus(cfg, env, device, generator), generator=generator)
    if job is None:
        agent = make_agent(cfg, env, device, generator)
    hooks: list[StepHook] = []
    if cfg.umbrella.windows > 0:  # rare-state biasing (a heuristic); the config checked that the agent fits
        from agents.rare_state import RareStateBias

        rare = RareStateBias.from_config(cfg.umbrella, env.num_envs, device, generator)
        rare.attach(agent)  # through the agent's score-bias or reward-bias hook
        hooks.append(RareStateHook(rare, cfg, device, ctx.seed))
    if cfg.restarts.every > 0:
        hooks.append(RestartsHook(make_restarts(cfg, env, device, generator)))
    result = run_agent(env, agent, ctx=ctx, generator=generator, hooks=hooks,
                       label=f"{cfg.run.name or cfg.agent.type}", tracker=tracker)
    if job is not None:
        from experiments.scale.data_parallel import finish

        result = finish(result, ctx)
    return result
