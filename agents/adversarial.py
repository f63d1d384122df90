"""AdversarialFreeEnergyAgent: the model minimises surprise, the actions maximise it.

Sinapayen's adversarial free energy: the world model's parameters keep
descending its free energy on what the agent experienced, while the agent plans
towards the transitions the model codes worst, so it keeps seeking states that
are hard, but not impossible, to code. Which surprise it chases is a choice
(``surprise``): ``total`` (everything the model finds surprising, the classic
prediction-error curiosity, trapped by a noisy TV), ``epistemic`` (what the
ensemble disagrees about, which learning removes) or ``aleatoric``.
"""
from __future__ import annotations

from agents.base import PlanningAgent
from agents.objective import Objective


class AdversarialFreeEnergyAgent(PlanningAgent):
    """Maximises the chosen expected surprise (minus any goal risk) over imagined rollouts.

    See :class:`agents.base.PlanningAgent` for the arguments.
    """

    objective = Objective.MAXIMISE
