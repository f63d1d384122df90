"""The intrinsic-source protocol, the batch it scores, and the return normaliser.

Every source keeps one contract, whoever calls it:

- ``warm(batch)``: see transitions without scoring them (warm-up steps: a
  source may gather statistics or replay);
- ``score(batch) -> (B,)``: its surprise at real transitions, *before*
  learning from them (a source may record them as it scores: the world model
  stores them in replay, counts count them, in step order);
- ``learn(steps) -> metrics``: learn from what it scored (the world model fits
  ``steps`` times on replay; RND trains its predictor);
- ``minibatch(idx) -> metrics``: only where ``trains_in_minibatches``: one
  step on rows ``idx`` of the batch scored last, called by a policy learner
  on each of its minibatches (RND as published);
- ``state_dict`` / ``load_state_dict``.

``world`` is the online world model behind a world-model source (None
otherwise) and ``free_energy`` its free energy ``(B,)`` of the batch scored
last (rare-state biasing reads both).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from agents.encoding import RunningNorm
from agents.protocol import Metrics

CHUNK = 32768  # rows scored per forward pass on a GPU (bounds memory at large T * N)
#: On a CPU: a pass's layer outputs stay in cache (the RAE of throughput.py scores 32,768 rows
#: 2.3 times faster in chunks of 4,096 than in one).
CPU_CHUNK = 4096


def chunks(rows: Tensor) -> list[Tensor]:
    """``rows`` ``(B, ...)`` cut into the blocks a source scores one forward pass at a time."""
    return list(rows.split(CPU_CHUNK if rows.device.type == "cpu" else CHUNK))


@dataclass
class Transitions:
    """``B`` real transitions; a rollout is ``T`` steps x ``N`` copies, step-major (``B = T * N``).

    obs, next_obs: ``(B, O)`` raw (``next_obs`` is the step's own last observation, before
    any autoreset); actions: ``(B,)`` or ``(B, A)`` in the env's format; map_xy: ``(B, 2)`` map
    coordinates of ``next_obs`` when the env reports them; num_envs: ``N`` (steps are
    consecutive blocks of ``N`` rows; 0: the rows are one step); dones: ``(B,)`` whether
    each step ended its copy's episode, where known.
    """

    obs: Tensor
    actions: Tensor
    next_obs: Tensor
    map_xy: Tensor | None = None
    num_envs: int = 0
    dones: Tensor | None = None  # (B,) bool: the step ended its copy's episode (None: unknown)

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    def steps(self) -> int:
        """``T``: the number of consecutive blocks of ``num_envs`` rows."""
        return 1 if self.num_envs <= 0 else max(len(self) // self.num_envs, 1)


class IntrinsicSource:
    """Base of every source (module doc); the defaults are a source that scores zeros."""

    world: Any = None
    free_energy: Tensor | None = None
    trains_in_minibatches: bool = False

    def warm(self, batch: Transitions) -> None:
        """See ``batch`` without scoring it."""

    def score(self, batch: Transitions) -> Tensor:
        """``(B,)`` surprise at ``batch``, before learning from it."""
        raise NotImplementedError

    def peek(self, batch: Transitions) -> Tensor:
        """``(B,)`` the score of ``batch`` under the source as it is now, storing and learning nothing.

        Probes of the signal and the ranking of restart states use it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot score without taking the batch in")

    def learn(self, steps: int) -> Metrics:
        """Learn from what was scored; metrics named ``ns/key`` (floats or 0-d tensors, :data:`Metrics`)."""
        return {}

    def minibatch(self, idx: Tensor) -> dict[str, Tensor]:
        """One step on rows ``idx`` ``(M,)`` of the batch scored last (``trains_in_minibatches`` only)."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class NoBonus(IntrinsicSource):
    """No intrinsic reward (PPO on the extrinsic reward alone)."""

    @classmethod
    def build(cls, **_: Any) -> NoBonus:
        return cls()

    def score(self, batch: Transitions) -> Tensor:
        return self.peek(batch)

    def peek(self, batch: Transitions) -> Tensor:
        return torch.zeros(len(batch), device=batch.obs.device)


class ReturnNormaliser:
    """Running std of discounted intrinsic returns ``R_t = gamma R_t-1 + r_t`` per copy.

    ``__call__(rewards (T, N)) -> (T, N)`` rewards divided by that std (no mean
    is removed, so the sign of a reward is kept). RND's ``RewardForwardFilter``:
    the bonus keeps its scale while the surprise behind it shrinks.
    """

    def __init__(self, *, num_envs: int, gamma: float, device: torch.device) -> None:
        self.gamma = float(gamma)
        self.returns = torch.zeros(num_envs, device=device, dtype=torch.float64)
        self.norm = RunningNorm(1, device, std_floor=1e-8)

    def __call__(self, rewards: Tensor) -> Tensor:
        seen = torch.empty_like(rewards, dtype=torch.float64)
        for t in range(rewards.shape[0]):  # over steps only: copies stay one tensor
            self.returns = self.returns * self.gamma + rewards[t].double()
            seen[t] = self.returns
        self.norm.update(seen.reshape(-1, 1))
        return rewards / self.norm.std.float()

    @property
    def std(self) -> Tensor:
        """The running std ``()`` of the discounted intrinsic returns (on the device: not read back)."""
        return self.norm.std.reshape(())

    def state_dict(self) -> dict:
        return {"returns": self.returns.cpu(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = state["returns"].to(self.returns.device)
        self.norm.load_state_dict(state["norm"])
