"""Agents: joint-vector encoding, replay, planners, the free-energy and adversarial
agents, the amortised (PPO) agent, baselines, and the stable-baselines3 bridge.

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
    "CountSurprise": "agents.baselines",
    "RNDSurprise": "agents.baselines",
    "BonusTransform": "agents.bonus",
    "WorldModelSurprise": "agents.bonus",
    "SurpriseBonusVecEnv": "agents.bonus",
    "SurpriseBonusWrapper": "agents.bonus",
    "BonusLoggingCallback": "agents.bonus",
    "BatchedVecEnv": "agents.sb3_env",
    "Visitation": "agents.explore",
    "AmortisedAgent": "agents.amortised",
    "PPOLearner": "agents.ppo",
    "PPOSettings": "agents.ppo",
    "RNDBonus": "agents.intrinsic",
    "WorldModelBonus": "agents.intrinsic",
    "CountBonus": "agents.intrinsic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
