"""Factories from a Config to the objects of a run: env, world model(s), agent, bonus.

Every run kind builds its world model through :func:`world_model` (one
definition of the options: :mod:`freeenergy.model_table`); agent runs build
their env, agent and stable-baselines3 bonus here.
"""
from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces

from agents.adversarial import AdversarialFreeEnergyAgent
from agents.amortised import AmortisedAgent
from agents.baselines import CountSurprise, RandomAgent, RNDSurprise
from agents.bonus import BonusTransform, WorldModelSurprise
from agents.encoding import TransitionEncoder
from agents.free_energy import FreeEnergyAgent
from agents.intrinsic import CountBonus, NoBonus, RNDBonus, WorldModelBonus
from agents.objective import Objective
from agents.online import OnlineWorldModel
from agents.planner import Planner
from agents.ppo import PPOLearner, ppo_settings
from agents.repeat import ActionRepeat
from agents.surprise_head import SurpriseHead
from experiments import agent_table
from experiments.config import Config, ConfigError, to_dict
from freeenergy import entry_points
from freeenergy.models import build_from_settings
from freeenergy.world_model import WorldModel

#: What each planning agent's actions do with the surprise.
PLANNERS = {"fe": FreeEnergyAgent, "afe": AdversarialFreeEnergyAgent}
#: The sign of each stable-baselines3 bonus (novelty bonuses are maximised).
BONUS_OBJECTIVES = {"afe": Objective.MAXIMISE, "fe": Objective.MINIMISE, "count": Objective.MAXIMISE,
                    "rnd": Objective.MAXIMISE}


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
    """The objective of ``agent.type`` (and, for stable-baselines3 agents, of ``agent.bonus``)."""
    if cfg.agent.type in PLANNERS:
        return PLANNERS[cfg.agent.type].objective
    return BONUS_OBJECTIVES.get(cfg.agent.bonus, Objective.MAXIMISE)


def make_world(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> OnlineWorldModel:
    """Encoder, replay and ``agent.ensemble`` world models for ``env``'s transitions."""
    a = cfg.agent
    encoder = TransitionEncoder(env.obs_dim, env.single_action_space, device)
    members = [world_model(cfg, encoder.dim, device) for _ in range(a.ensemble)]
    head = None
    if a.surprise_head:
        hidden = cfg.world_model.hidden
        width = hidden if isinstance(hidden, int) else (list(hidden) or [64])[0]
        head = SurpriseHead(encoder.obs_dim + encoder.act_dim, width, cfg.world_model.lr, device)
    return OnlineWorldModel(encoder=encoder, members=members, replay_capacity=a.replay_capacity,
                            batch_size=cfg.world_model.batch_size, device=device, generator=generator,
                            recent_fraction=a.recent_fraction, recent_window=a.recent_window,
                            surprise_head=head, head_discount=a.head_discount, objective=objective(cfg))


def make_planner(cfg: Config, world: OnlineWorldModel, device: torch.device, generator: torch.Generator
                 ) -> Planner:
    """The candidate search of a planning agent, from ``cfg.agent``."""
    a = cfg.agent
    return Planner(codec=world.encoder.actions, horizon=a.horizon, candidates=a.candidates, method=a.planner,
                   cem_iters=a.cem_iters, elite_frac=a.elite_frac, repeat_prob=a.repeat_prob,
                   discount=a.discount, device=device, generator=generator)


def make_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Any:
    """The agent of ``agent.type``, built by its row of :mod:`experiments.agent_table`."""
    spec = agent_table.AGENTS[cfg.agent.type]
    if spec.kind == "sb3":
        raise ConfigError(f"agent.type={cfg.agent.type!r} is learned by stable-baselines3, not built as an "
                          "Agent; expected a planner or baseline type here")
    return entry_points.load(spec.entry)(cfg, env, device, generator)


def make_random_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> RandomAgent:
    """The uniformly random baseline."""
    return RandomAgent(env.single_action_space, device, generator)


def make_planning_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Any:
    """A planning agent (fe, afe), wrapped in :class:`ActionRepeat` when ``agent.action_repeat > 1``."""
    a = cfg.agent
    if a.goal_obs and len(a.goal_obs) != env.obs_dim:
        raise ConfigError(f"agent.goal_obs={list(a.goal_obs)!r} has {len(a.goal_obs)} entries: expected "
                          f"{env.obs_dim} (the observation size of env.id={cfg.env.id!r}), or [] for no goal")
    world = make_world(cfg, env, device, generator)
    planner = make_planner(cfg, world, device, generator)
    agent = PLANNERS[a.type](
        world=world, planner=planner, surprise=a.surprise, surprise_weight=a.surprise_weight,
        goal_obs=list(a.goal_obs) or None, goal_weight=a.goal_weight, draws=a.draws,
        complete_init=a.complete_init, fe_draws=a.fe_draws, epsilon=a.epsilon, warmup_steps=a.warmup_steps,
        fit_ratio=a.fit_ratio, generator=generator)
    return ActionRepeat(agent, repeat=a.action_repeat) if a.action_repeat > 1 else agent


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
    return BonusTransform(source, a.int_coef, a.ext_coef, objective=BONUS_OBJECTIVES[a.bonus])


# ------------------------------------------------------------------ the amortised agent
def _check_amortised(cfg: Config, env: Any) -> None:
    space = env.single_action_space
    if not isinstance(space, spaces.Discrete):
        raise ConfigError(f"agent.type='amortised' is invalid for env.id={cfg.env.id!r}, whose actions are "
                          f"{type(space).__name__}: expected Discrete actions, or agent.type fe, afe, random, "
                          f"ppo, a2c or sac")
    if cfg.agent.bonus == "count" and getattr(env, "map_cells", None) is None:
        raise ConfigError(f"agent.bonus='count' is invalid for env.id={cfg.env.id!r}, which has no map: "
                          f"expected afe, fe, rnd or none, or set env.map_xy")


def make_source(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> NoBonus:
    """The rollout source named by ``agent.bonus``."""
    a = cfg.agent
    if a.bonus in ("afe", "fe"):
        return WorldModelBonus(world=make_world(cfg, env, device, generator), surprise=a.surprise, draws=a.draws,
                               fe_draws=a.fe_draws, complete_steps=cfg.world_model.complete_steps or None,
                               complete_init=a.complete_init)
    if a.bonus == "rnd":
        s = ppo_settings(a.ppo)
        return RNDBonus(obs_dim=env.obs_dim, hidden=s.hidden, lr=s.predictor_lr, fraction=s.predictor_fraction,
                        device=device, generator=generator)
    if a.bonus == "count":
        return CountBonus(map_cells=env.map_cells, num_cells=env.num_cells, num_envs=env.num_envs, device=device)
    return NoBonus()


def make_amortised(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> AmortisedAgent:
    """PPO on ``env``'s copies, rewarded by ``agent.bonus`` (see module doc)."""
    _check_amortised(cfg, env)
    a = cfg.agent
    settings = ppo_settings(a.ppo)
    n_act = int(env.single_action_space.n)
    context = None
    if cfg.umbrella.windows > 0:  # rare-state biasing: one policy for every window, told its copy's window
        from agents.rare_state import RareStateBias

        context = RareStateBias.window_context(env.num_envs, cfg.umbrella.windows, device)
    width = env.obs_dim + (0 if context is None else context.shape[1])
    learner = PPOLearner(obs_dim=width, num_actions=n_act, settings=settings, ext_coef=a.ext_coef,
                         int_coef=a.int_coef, device=device, generator=generator)
    source = make_source(cfg, env, device, generator)
    return AmortisedAgent(learner=learner, source=source, obs_dim=env.obs_dim, num_actions=n_act,
                          num_envs=env.num_envs, objective=objective(cfg),
                          warmup_steps=a.warmup_steps, fit_ratio=a.fit_ratio,
                          action_start=int(env.single_action_space.start), context=context, device=device,
                          generator=generator)
