"""Agents: the Agent contract, joint-vector encoding, replay, planners, the free-energy
and adversarial agents, the amortised (PPO) agent, intrinsic sources, baselines, and
the stable-baselines3 bridge.

Submodules import lazily (stable-baselines3 is only loaded by :mod:`agents.bonus`
and :mod:`agents.sb3_env`).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TransitionEncoder": "agents.encoding",
    "RunningNorm": "agents.encoding",
    "ActionCodec": "agents.encoding",
    "ReplayBuffer": "agents.replay",
    "OnlineWorldModel": "agents.online",
    "Planner": "agents.planner",
    "Rollout": "agents.planner",
    "PlanningAgent": "agents.base",
    "Objective": "agents.objective",
    "ActionRepeat": "agents.repeat",
    "FreeEnergyAgent": "agents.free_energy",
    "AdversarialFreeEnergyAgent": "agents.adversarial",
    "RandomAgent": "agents.baselines",
    "BonusTransform": "agents.bonus",
    "SurpriseBonusVecEnv": "agents.bonus",
    "SurpriseBonusWrapper": "agents.bonus",
    "BonusLoggingCallback": "agents.bonus",
    "BatchedVecEnv": "agents.sb3_env",
    "Visitation": "agents.explore",
    "AmortisedAgent": "agents.amortised",
    "PPOLearner": "agents.ppo",
    "PPOSettings": "agents.ppo",
    "Agent": "agents.protocol",
    "Step": "agents.protocol",
    "IntrinsicSource": "agents.intrinsic.base",
    "Transitions": "agents.intrinsic.base",
    "WorldModelSurprise": "agents.intrinsic.surprise",
    "RND": "agents.intrinsic.rnd",
    "CountBonus": "agents.intrinsic.counts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
