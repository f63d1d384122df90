"""Factories from a Config to the objects of a run: env, world model(s), agent, intrinsic source.

Every run kind builds its world model through :func:`world_model` (one
definition of the options: :mod:`freeenergy.model_table`); agent runs build
their env, agent and intrinsic source here (the sources' table:
:mod:`agents.intrinsic`; the agents': :mod:`experiments.agent_table`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from gymnasium import spaces

from agents import intrinsic
from agents.adversarial import AdversarialFreeEnergyAgent
from agents.amortised import AmortisedAgent
from agents.baselines import RandomAgent
from agents.bonus import BonusTransform
from agents.encoding import TransitionEncoder
from agents.free_energy import FreeEnergyAgent
from agents.intrinsic.base import IntrinsicSource
from agents.intrinsic.episodic import with_episodic
from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.planner import Planner
from agents.ppo import PPOLearner
from agents.protocol import Agent
from agents.repeat import ActionRepeat
from agents.restarts import Restarts
from agents.surprise_head import SurpriseHead
from experiments import agent_table, sizes
from experiments.config import Config, ConfigError, to_dict
from freeenergy import entry_points
from freeenergy.models import build_from_settings
from freeenergy.world_model import WorldModel

#: What each planning agent's actions do with the surprise.
PLANNERS = {"fe": FreeEnergyAgent, "afe": AdversarialFreeEnergyAgent}


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
    if cfg.env.terminal_is_success:
        kwargs["terminal_is_success"] = True
    if cfg.env.map_grid:
        kwargs["map_grid"] = list(cfg.env.map_grid)
    return envs.make(cfg.env.id, cfg.env.num_envs if num_envs is None else num_envs, device, **kwargs)


def world_model(cfg: Config, input_dim: int, device: torch.device | str, name: str | None = None,
                settings: dict[str, Any] | None = None) -> WorldModel:
    """World model ``name`` (default ``world_model.name``) from the ``world_model`` section (or ``settings``)."""
    section = to_dict(cfg.world_model) if settings is None else settings
    return build_from_settings(name or cfg.world_model.name, input_dim, section, device)


def objective(cfg: Config) -> Objective:
    """The objective of ``agent.type`` (planners) or of the intrinsic source ``agent.intrinsic.name``."""
    if cfg.agent.type in PLANNERS:
        return PLANNERS[cfg.agent.type].objective
    return Objective(intrinsic.spec(cfg.agent.intrinsic.name).objective)


def make_world(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> OnlineWorldModel:
    """Encoder, replay and ``agent.online.ensemble`` world models for ``env``'s transitions."""
    o = cfg.agent.online
    encoder = TransitionEncoder(env.obs_dim, env.single_action_space, device, fourier=o.fourier,
                                fourier_scale=o.fourier_scale, generator=generator)
    members = [world_model(cfg, encoder.dim, device) for _ in range(o.ensemble)]
    head = None
    if o.surprise_head:
        hidden = cfg.world_model.hidden
        width = hidden if isinstance(hidden, int) else (list(hidden) or [64])[0]
        head = SurpriseHead(encoder.next_slice.start, width, cfg.world_model.lr, device)
    capacity = sizes.replay_capacity(cfg, env.num_envs)  # grown to the transitions between two fits
    return OnlineWorldModel(encoder=encoder, members=members, replay_capacity=capacity,
                            batch_size=cfg.world_model.batch_size, device=device, generator=generator,
                            recent_fraction=o.recent_fraction, recent_window=o.recent_window,
                            surprise_head=head, head_discount=o.head_discount, objective=objective(cfg),
                            samples_per_transition=o.samples_per_transition)


def make_planner(cfg: Config, world: OnlineWorldModel, device: torch.device, generator: torch.Generator
                 ) -> Planner:
    """The candidate search of a planning agent, from ``agent.planner``."""
    p = cfg.agent.planner
    return Planner(codec=world.encoder.actions, horizon=p.horizon, candidates=p.candidates, method=p.method,
                   cem_iters=p.cem_iters, elite_frac=p.elite_frac, repeat_prob=p.repeat_prob,
                   discount=p.discount, device=device, generator=generator)


def make_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Agent:
    """The agent of ``agent.type``, built by its row of :mod:`experiments.agent_table`."""
    spec = agent_table.AGENTS[cfg.agent.type]
    if spec.kind == "sb3":
        raise ConfigError(f"agent.type={cfg.agent.type!r} is learned by stable-baselines3, not built as an "
                          "Agent; expected a planner or baseline type here")
    return entry_points.load(spec.entry)(cfg, env, device, generator)


def make_random_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> RandomAgent:
    """The uniformly random baseline."""
    return RandomAgent(env.single_action_space, device, generator)


def make_planning_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Agent:
    """A planning agent (fe, afe), wrapped in :class:`ActionRepeat` when ``agent.planner.action_repeat > 1``."""
    a, p, s = cfg.agent, cfg.agent.planner, cfg.agent.surprise
    if p.goal_obs and len(p.goal_obs) != env.obs_dim:
        raise ConfigError(f"agent.planner.goal_obs={list(p.goal_obs)!r} has {len(p.goal_obs)} entries: expected "
                          f"{env.obs_dim} (the observation size of env.id={cfg.env.id!r}), or [] for no goal")
    if a.online.fourier:
        raise ConfigError(f"agent.online.fourier={a.online.fourier} is invalid with agent.type={a.type!r}: a planner "
                          f"decodes raw observations from the world model; expected 0, or agent.type amortised")
    world = make_world(cfg, env, device, generator)
    planner = make_planner(cfg, world, device, generator)
    agent = PLANNERS[a.type](
        world=world, planner=planner, surprise=s.term, surprise_weight=p.surprise_weight,
        goal_obs=list(p.goal_obs) or None, goal_weight=p.goal_weight, draws=s.draws,
        complete_init=s.complete_init, fe_draws=s.fe_draws, epsilon=p.epsilon, warmup_steps=a.warmup_steps,
        fit_ratio=a.online.fit_ratio, generator=generator)
    return ActionRepeat(agent, repeat=p.action_repeat) if p.action_repeat > 1 else agent


def make_source(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> IntrinsicSource:
    """The intrinsic source ``agent.intrinsic.name``, built by its row of :mod:`agents.intrinsic`."""
    name = cfg.agent.intrinsic.name
    row = intrinsic.spec(name)
    if row.needs_map and getattr(env, "map_cells", None) is None:
        raise ConfigError(f"agent.intrinsic.name={name!r} is invalid for env.id={cfg.env.id!r}, which has no map: "
                          f"expected a source without one (e.g. afe, fe, rnd or none), or set env.map_xy")
    world = make_world(cfg, env, device, generator) if row.world or row.model else None
    options = cfg.agent.surprise if row.world else getattr(cfg.agent.intrinsic, row.options or "", None)
    source = intrinsic.build_source(name, env=env, options=options, world=world, device=device, generator=generator)
    return with_episodic(source, cfg.agent.intrinsic.episodic, num_envs=env.num_envs, obs_dim=env.obs_dim,
                         device=device)


def make_restarts(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Restarts:
    """Return-then-explore restarts from the ``restarts`` section; its ranker is built for it alone.

    Raises ConfigError for an env that cannot save and restore its copies' states.
    """
    r = cfg.restarts
    try:
        env.get_state()
    except NotImplementedError:
        raise ConfigError(f"restarts.every={r.every} needs an env with get_state/set_state, and env.id="
                          f"{cfg.env.id!r} has none: set restarts.every=0, or give the env set_state") from None
    ranker = None
    if r.rank != "uniform" and intrinsic.spec(r.rank).needs_map \
            and getattr(env, "map_cells", None) is None:
        raise ConfigError(f"restarts.rank={r.rank!r} needs the env's map cells, and env.id={cfg.env.id!r} has no "
                          f"map: expected afe, rnd or uniform, or set env.map_xy")
    if r.rank != "uniform":
        # The ranker scores all copies' states together: no per-copy episodic memory.
        i = cfg.agent.intrinsic
        ranking = replace(i, name=r.rank, episodic=replace(i.episodic, on=False))
        ranker = make_source(replace(cfg, agent=replace(cfg.agent, intrinsic=ranking)), env, device, generator)
    return Restarts(num_envs=env.num_envs, every=r.every, fraction=r.fraction, top=r.top, ranker=ranker,
                    fit_ratio=max(cfg.agent.online.fit_ratio, 1), device=device, generator=generator)


def make_bonus(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> BonusTransform | None:
    """The reward bonus of stable-baselines3 agents (None for ``agent.intrinsic.name: none``)."""
    a = cfg.agent
    if a.intrinsic.name == "none":
        return None
    return BonusTransform(make_source(cfg, env, device, generator), a.int_coef, a.ext_coef, objective=objective(cfg),
                          device=device, fit_ratio=max(a.online.fit_ratio, 1), fit_every=a.online.fit_every)


# ------------------------------------------------------------------ the amortised agent
def make_amortised(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> AmortisedAgent:
    """PPO on ``env``'s copies, rewarded by the intrinsic source ``agent.intrinsic.name``.

    With ``umbrella.windows > 0`` (rare-state biasing) the policy also sees the one-hot of its copy's window.
    """
    space = env.single_action_space
    if not isinstance(space, spaces.Discrete):
        raise ConfigError(f"agent.type='amortised' is invalid for env.id={cfg.env.id!r}, whose actions are "
                          f"{type(space).__name__}: expected Discrete actions, or agent.type fe, afe, random, "
                          f"ppo, a2c or sac")
    a = cfg.agent
    n_act = int(space.n)
    context = None
    if cfg.umbrella.windows > 0:  # rare-state biasing: one policy for every window, told its copy's window
        from agents.rare_state import RareStateBias

        context = RareStateBias.window_context(env.num_envs, cfg.umbrella.windows, device)
    width = env.obs_dim + (0 if context is None else context.shape[1])
    learner = PPOLearner(obs_dim=width, num_actions=n_act, settings=a.ppo, ext_coef=a.ext_coef,
                         int_coef=a.int_coef, device=device, generator=generator)
    return AmortisedAgent(learner=learner, source=make_source(cfg, env, device, generator), obs_dim=env.obs_dim,
                          num_actions=n_act, num_envs=env.num_envs, objective=objective(cfg),
                          warmup_steps=a.warmup_steps, fit_ratio=a.online.fit_ratio,
                          action_start=int(space.start), context=context, device=device, generator=generator)
