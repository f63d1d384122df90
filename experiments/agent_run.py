"""The ``agent`` experiment: an agent explores a batched env while its world model learns.

Planning agents (``fe``, ``afe``) and the random baseline run on the driver's
Agent-contract loop (:func:`experiments.driver.run_agent`); stable-baselines3
algorithms (``ppo``, ``a2c``, ``dqn``, ``sac``) learn through
:class:`agents.bonus.SurpriseBonusVecEnv` with the bonus named by
``agent.bonus`` and reach the same driver through a callback
(:mod:`experiments.sb3_run`). Both report the same summary keys:

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

from agents.adversarial import AdversarialFreeEnergyAgent
from agents.baselines import CountSurprise, RandomAgent, RNDSurprise
from agents.bonus import BonusTransform, WorldModelSurprise
from agents.encoding import TransitionEncoder
from agents.free_energy import FreeEnergyAgent
from agents.online import OnlineWorldModel
from agents.planner import Planner
from agents.surprise_head import SurpriseHead
from experiments.config import Config, ConfigError, WorldModelConfig
from experiments.context import RunContext
from experiments.driver import StepHook, run_agent
from experiments.sb3_run import SB3_ALGOS
from experiments.tracker import Tracker
from freeenergy.models import build_world_model, model_kwargs


# ------------------------------------------------------------------ factories
def make_env(cfg: Config, device: torch.device | str, num_envs: int | None = None, **overrides: Any) -> Any:
    """The run's BatchedEnv from ``cfg.env`` (the one place config becomes an env).

    ``num_envs`` (default ``env.num_envs``) and ``overrides`` (env kwargs over
    ``env.kwargs``) serve probes and run kinds that need a variant of the env.
    """
    import envs

    kwargs = {**dict(cfg.env.kwargs), **overrides}
    if cfg.env.map_xy is not None:
        kwargs["map_xy"] = list(cfg.env.map_xy) if not isinstance(cfg.env.map_xy, str) else cfg.env.map_xy
    if cfg.env.vector != "sync":
        kwargs["vectorization"] = cfg.env.vector
    return envs.make(cfg.env.id, cfg.env.num_envs if num_envs is None else num_envs, device, **kwargs)


def world_model_kwargs(wm: WorldModelConfig) -> dict[str, Any]:
    """Constructor arguments of ``wm.name`` from the world_model config section."""
    cand: dict[str, Any] = {
        "code_dim": wm.code_dim, "hidden": [wm.hidden] * wm.depth, "passes": wm.passes, "sigma": wm.sigma,
        "lam": wm.code_penalty, "lr": wm.lr, "activation": wm.activation,
        "code_activation": wm.code_activation, "output_activation": wm.output_activation, "prior": wm.prior,
        "chain_steps": wm.chain_steps, "beta": wm.beta, "obs_var": wm.obs_var, "smoothing": wm.smoothing,
        "corruption": wm.chain_corruption if wm.name == "mc_ae" else wm.corruption,
    }
    if wm.sample_steps:
        cand["sample_steps"] = wm.sample_steps
    if wm.complete_steps:
        cand["complete_steps"] = wm.complete_steps
    valid = set(model_kwargs(wm.name))
    return {k: v for k, v in cand.items() if k in valid}


def make_world(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> OnlineWorldModel:
    """Encoder, replay and ``agent.ensemble`` world models for ``env``'s transitions."""
    encoder = TransitionEncoder(env.obs_dim, env.single_action_space, device)
    kw = world_model_kwargs(cfg.world_model)
    members = [build_world_model(cfg.world_model.name, encoder.dim, device, **kw)
               for _ in range(cfg.agent.ensemble)]
    head = (SurpriseHead(encoder.obs_dim + encoder.act_dim, cfg.world_model.hidden, cfg.world_model.lr, device)
            if cfg.agent.surprise_head else None)
    return OnlineWorldModel(encoder, members, cfg.agent.replay_capacity, cfg.world_model.batch_size, device,
                            generator, cfg.agent.recent_fraction, cfg.agent.recent_window, head,
                            cfg.agent.head_discount, head_maximise=cfg.agent.type == "afe")


def make_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Any:
    """A planning agent (fe, afe) or the random baseline."""
    a = cfg.agent
    if a.type == "random":
        return RandomAgent(env.single_action_space, device, generator)
    if a.type == "amortised":
        from experiments.amortised import make_amortised

        return make_amortised(cfg, env, device, generator)
    if a.goal_obs and len(a.goal_obs) != env.obs_dim:
        raise ConfigError(f"agent.goal_obs={list(a.goal_obs)!r} has {len(a.goal_obs)} entries: expected "
                          f"{env.obs_dim} (the observation size of env.id={cfg.env.id!r}), or [] for no goal")
    world = make_world(cfg, env, device, generator)
    planner = Planner(world.encoder.actions, a.horizon, a.candidates, a.planner, a.cem_iters, a.elite_frac,
                      a.repeat_prob, a.discount, device, generator)
    cls = FreeEnergyAgent if a.type == "fe" else AdversarialFreeEnergyAgent
    return cls(world, planner, surprise=a.surprise, surprise_weight=a.surprise_weight,
               goal_obs=list(a.goal_obs) or None, goal_weight=a.goal_weight, draws=a.draws,
               complete_steps=a.complete_steps or None, complete_init=a.complete_init, fe_draws=a.fe_draws, epsilon=a.epsilon,
               warmup_steps=a.warmup_steps, fit_ratio=a.fit_ratio, action_repeat=a.action_repeat,
               generator=generator)


def make_bonus(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> BonusTransform | None:
    """The reward bonus of SB3 agents (None for ``agent.bonus: none``)."""
    a = cfg.agent
    if a.bonus == "none":
        return None
    if a.bonus in ("afe", "fe"):
        source: Any = WorldModelSurprise(make_world(cfg, env, device, generator), a.fit_ratio, a.fe_draws,
                                          a.fit_every)
    elif a.bonus == "count":
        source = CountSurprise(env.map_cells, env.num_cells, device)
    else:
        source = RNDSurprise(env.obs_dim, fit_ratio=max(a.fit_ratio, 1),
                             batch_size=cfg.world_model.batch_size, lr=cfg.world_model.lr, device=device)
    return BonusTransform(source, a.int_coef, a.ext_coef, maximise=a.bonus != "fe")


# ------------------------------------------------------------------ the run
class RareStateHook(StepHook):
    """Rare-state biasing (a heuristic) around each planner step, and its summary."""

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


def run(ctx: RunContext) -> dict:
    """Run ``cfg.agent`` in ``cfg.env`` for ``cfg.run.steps`` steps per copy; return the summary."""
    cfg, device = ctx.cfg, ctx.device
    generator = torch.Generator(device=device)
    generator.manual_seed(ctx.seed)
    env = make_env(cfg, device)
    if cfg.agent.type in SB3_ALGOS:
        from experiments.sb3_run import run_sb3

        return run_sb3(ctx, env, make_bonus(cfg, env, device, generator), generator=generator)
    agent = make_agent(cfg, env, device, generator)
    hooks: list[StepHook] = []
    if cfg.umbrella.windows > 0 and cfg.agent.type in ("fe", "afe"):  # rare-state biasing (a heuristic)
        from agents.rare_state import RareStateBias

        rare = RareStateBias.from_config(cfg.umbrella, env.num_envs, device, generator)
        agent.score_bias = rare.score_bias
        hooks.append(RareStateHook(rare, cfg, device, ctx.seed))
    return run_agent(ctx, env, agent, generator=generator, extra_hooks=hooks,
                     label=f"{cfg.run.name or cfg.agent.type}")
