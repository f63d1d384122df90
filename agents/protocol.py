"""The Agent contract: what every agent gives the run loop, and the one record of a step.

The loop (``experiments.driver.run_agent``) calls, for ``N`` copies at once::

    actions = agent.act(obs)                              # (N,) or (N, A)
    next_obs, reward, terminated, truncated, info = env.step(actions)
    fe = agent.observe(Step(obs, actions, info["final_obs"], terminated | truncated,
                            reward, info["final_map_xy"]))  # free energy or None
    metrics = agent.update()                              # learning, once per step

and never asks an agent what it can do: every method and attribute below has
a default here. Nothing in this loop needs a host sync: ``update`` may return
its metrics as 0-d tensors, which the run reads back when it logs them.
``world`` is the online world model an agent plans or learns
with (None: none; the loop draws its latent map), ``interval_metrics`` what it
adds to each logged row, ``restarted`` how it hears that copies were put in
new states (rare-state restarts).
"""
from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

#: What ``update`` (and a source's ``learn``) returns: named figures, each a float or a 0-d tensor
#: left on the agent's device, which is read back only when the run logs it (:func:`host_metrics`),
#: so that learning needs no host sync.
Metrics = dict[str, float | Tensor]


@dataclass
class Step:
    """One env step of ``N`` copies.

    obs: ``(N, O)`` observations acted on; action: ``(N,)`` or ``(N, A)``; next_obs: ``(N, O)``
    the step's own last observation (``info["final_obs"]``: before any autoreset); done:
    ``(N,)`` bool, the episode ended (terminated or truncated); reward: ``(N,)`` the env's
    reward; map_xy: ``(N, 2)`` map coordinates of ``next_obs``, when the env has a map.
    """

    obs: Tensor
    action: Tensor
    next_obs: Tensor
    done: Tensor
    reward: Tensor
    map_xy: Tensor | None = None


class Agent(abc.ABC):
    """Base of every agent: ``act`` and ``observe`` to write, the rest has defaults."""

    #: The online world model the agent plans or learns with (None: none).
    world: Any = None

    @abc.abstractmethod
    def act(self, obs: Tensor) -> Tensor:
        """Actions ``(N,)`` or ``(N, A)`` in the env's format for observations ``(N, O)``."""

    @abc.abstractmethod
    def observe(self, step: Step) -> Tensor | None:
        """Take in one step; the free energy ``(K,)`` of the transitions stored (None: nothing to report)."""

    def update(self) -> Metrics:
        """Learn (called once per env step); metrics named ``ns/key`` (a bare key is a world-model figure),
        floats or 0-d tensors (:data:`Metrics`)."""
        return {}

    def interval_metrics(self) -> dict[str, float]:
        """Extra scalars for the current logging interval (e.g. the planner's imagined surprise)."""
        return {}

    def restarted(self, mask: Tensor) -> None:
        """Copies ``mask`` ``(N,)`` were put in new states outside their episode (after the step observed last)."""
        return None  # nothing to forget for an agent without per-copy state

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None  # nothing to restore


def as_tensor(x: Any, device: torch.device, dtype: torch.dtype | None = torch.float32) -> Tensor:
    """``x`` as a tensor on ``device`` (a no-op for a tensor already there)."""
    return torch.as_tensor(x, device=device, dtype=dtype)


def host_metrics(metrics: Mapping[str, float | Tensor]) -> dict[str, float]:
    """``metrics`` as floats: the tensors are read back together, one transfer per device."""
    out = {k: v for k, v in metrics.items() if not isinstance(v, Tensor)}
    by_device: dict[torch.device, list[str]] = {}
    for k, v in metrics.items():
        if isinstance(v, Tensor):
            by_device.setdefault(v.device, []).append(k)
    for keys in by_device.values():
        values = torch.stack([metrics[k].detach().reshape(()).double() for k in keys]).tolist()  # type: ignore[union-attr]
        out.update(zip(keys, values))
    return {k: float(out[k]) for k in metrics}
