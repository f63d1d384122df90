"""Sizes that follow from ``env.num_envs``: buffers that must hold a step (or a rollout) of every copy.

A buffer sized by a config value alone breaks once the copies outgrow it: a
world-model replay smaller than the transitions that arrive between two fits
never trains on some of them, and an amortised agent's rollout cannot even
record where its transitions went. Each such size is decided here, in one
place; the builders (:mod:`experiments.build`) allocate it and the memory
guard (:mod:`experiments.guards`) estimates it before anything is allocated.

The rule for the replay: ``agent.online.replay_capacity`` is a floor the user sets;
the replay grows to the transitions between two world-model fits when they are
more, and says so in one warning line naming both keys.
"""
from __future__ import annotations

import warnings
from typing import Any

from experiments import agent_table


def rows_between_fits(cfg: Any, num_envs: int) -> tuple[int, str]:
    """Transitions the world model's replay receives between two fits, and the keys they follow from.

    A planner fits after every step of its ``num_envs`` copies; the amortised
    agent after each rollout of ``agent.ppo.rollout`` steps; a stable-baselines3
    bonus on every ``agent.online.fit_every``-th vector step.
    """
    a, n = cfg.agent, int(num_envs)
    if a.type == "amortised":
        t = a.ppo.rollout
        return n * t, f"env.num_envs={n} x agent.ppo.rollout={t}"
    every = a.online.fit_every
    if a.type in agent_table.of_kind("sb3") and every > 1:
        return n * every, f"env.num_envs={n} x agent.online.fit_every={every}"
    return n, f"env.num_envs={n}"


def replay_capacity(cfg: Any, num_envs: int, warn: bool = True) -> int:
    """Rows of the world model's replay: ``agent.online.replay_capacity``, grown to :func:`rows_between_fits`.

    ``warn``: say so in one line (a ``UserWarning``) when it grows.
    """
    cap = int(cfg.agent.online.replay_capacity)
    rows, why = rows_between_fits(cfg, num_envs)
    if rows <= cap:
        return cap
    if warn:
        warnings.warn(f"agent.online.replay_capacity={cap} is smaller than the {rows} transitions that arrive between "
                      f"two world-model fits ({why}): the replay holds {rows}", UserWarning, stacklevel=2)
    return rows
