"""Builds the amortised agent (``agent.type: amortised``) from a run's config.

``agent.bonus`` picks the rollout source: ``afe`` / ``fe`` (a world model's
surprise, ``agent.surprise`` names the term, maximised / minimised), ``rnd``
(random network distillation as published), ``count`` (exact map-cell counts)
or ``none`` (PPO alone). ``agent.ppo`` holds the PPO settings. With
``umbrella.windows > 0`` (rare-state biasing) the policy also sees the one-hot
of its copy's window.
"""
from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces

from agents.amortised import AmortisedAgent
from agents.intrinsic import CountBonus, NoBonus, RNDBonus, WorldModelBonus
from agents.ppo import PPOLearner, ppo_settings
from experiments.build import objective
from experiments.config import Config, ConfigError


def _check(cfg: Config, env: Any) -> None:
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
    from experiments.build import make_world

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
    _check(cfg, env)
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
