"""FreeEnergyAgent: acts to minimise the expected surprise of what follows its actions.

Friston's free-energy principle, by model-predictive control: each candidate
action sequence is scored by the expected free energy of the transitions the
world model imagines for it, plus an optional prior preference over outcomes
(a goal observation, the "risk" term). Pure surprise minimisation has the
dark-room failure: given a light switch, the agent turns the lights off.
"""
from __future__ import annotations

from agents.base import PlanningAgent
from agents.objective import Objective


class FreeEnergyAgent(PlanningAgent):
    """Minimises ``surprise_weight * S + goal_weight * risk`` over imagined rollouts.

    See :class:`agents.base.PlanningAgent` for the arguments.
    """

    objective = Objective.MINIMISE
