"""Which way an agent pushes its surprise: the one place the objective's sign lives.

The world model always *learns* by descending its free energy; what differs
between agents is what their *actions* do with it:

- ``Objective.MINIMISE``: Friston's free-energy agent, which seeks what it
  can predict (and, given a light switch, sits in the dark);
- ``Objective.MAXIMISE``: Sinapayen's adversarial agent, which seeks what its
  model codes worst (and every novelty bonus: counts, RND).

Planners minimise a cost, so the surprise term enters the cost with
``cost_sign``; a reward bonus enters the reward with ``reward_sign``; a
bootstrapped value of future surprise takes the agent's ``best`` action.
"""
from __future__ import annotations

import enum

from torch import Tensor


class Objective(enum.Enum):
    """The sign of the surprise in an agent's objective."""

    MINIMISE = "minimise"
    MAXIMISE = "maximise"

    @property
    def cost_sign(self) -> float:
        """+1: surprise adds to the planning cost (minimise); -1: it lowers it (maximise)."""
        return 1.0 if self is Objective.MINIMISE else -1.0

    @property
    def reward_sign(self) -> float:
        """+1: surprise is rewarded (maximise); -1: it is penalised (minimise)."""
        return -self.cost_sign

    def best(self, values: Tensor, dim: int = -1) -> Tensor:
        """The agent's preferred value along ``dim``: the max when maximising, else the min."""
        return values.amax(dim) if self is Objective.MAXIMISE else values.amin(dim)
