"""The agent table: every ``agent.type``, how it is built and which loop runs it.

One row per agent type: a ``"module:function"`` entry point (imported on
first use) that builds the agent from ``(cfg, env, device, generator)`` (for
stable-baselines3 rows: the algorithm class), the kind of loop that runs it,
and one line of docs. Config validation, ``show --docs`` and
:func:`experiments.build.make_agent` read it.

Adding an agent type is one row here, or one ``register_agent`` call in a
module imported before the config is validated. This module imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgentSpec:
    """One agent type.

    Attributes:
        entry: ``"module:function"`` building the agent, ``(cfg, env, device, generator) -> agent``;
            for ``kind="sb3"`` the stable-baselines3 algorithm class.
        kind: the loop that runs it: ``"planner"`` and ``"baseline"`` (the batched Agent-contract
            loop) or ``"sb3"`` (stable-baselines3's ``learn`` with the ``agent.intrinsic`` bonus wrapper).
        doc: one line for ``show --docs``.
    """

    entry: str
    kind: str
    doc: str


AGENTS: dict[str, AgentSpec] = {
    "fe": AgentSpec("experiments.build:make_planning_agent", "planner", "free-energy minimising planner"),
    "afe": AgentSpec("experiments.build:make_planning_agent", "planner", "adversarial planner"),
    "random": AgentSpec("experiments.build:make_random_agent", "baseline", "uniformly random actions"),
    "amortised": AgentSpec("experiments.build:make_amortised", "baseline",
                           "torch-native PPO on the batched copies, rewarded by agent.intrinsic; Discrete actions"),
    "ppo": AgentSpec("stable_baselines3:PPO", "sb3", "stable-baselines3 PPO"),
    "a2c": AgentSpec("stable_baselines3:A2C", "sb3", "stable-baselines3 A2C"),
    "dqn": AgentSpec("stable_baselines3:DQN", "sb3", "stable-baselines3 DQN"),
    "sac": AgentSpec("stable_baselines3:SAC", "sb3", "stable-baselines3 SAC"),
}


def register_agent(name: str, spec: AgentSpec) -> None:
    """Add an agent type (a name already taken by another row is rejected)."""
    if name in AGENTS and AGENTS[name] != spec:
        raise ValueError(f"agent type {name!r} is already registered (as {AGENTS[name].entry})")
    AGENTS[name] = spec


def agent_types() -> tuple[str, ...]:
    """Every registered ``agent.type``, in table order."""
    return tuple(AGENTS)


def of_kind(kind: str) -> tuple[str, ...]:
    """The agent types run by loop ``kind`` (e.g. ``"sb3"``)."""
    return tuple(n for n, s in AGENTS.items() if s.kind == kind)


def describe() -> str:
    """``name (doc), ...`` for the config docs."""
    return ", ".join(f"{n} ({s.doc})" for n, s in AGENTS.items())
