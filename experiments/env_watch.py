"""EnvWatch: what the env returns is finite and inside its declared observation space.

A NaN observation or reward, or an observation far outside the env's ``Box``
(1e6 against [-1, 1]), makes every figure of the run meaningless, and the world
model's loss blows up later with the learning rate blamed. So the run driver
hands every step's observations and rewards to :meth:`EnvWatch.see`: a few fused
reductions on the device (``isfinite`` and a bound check on the batch) fold
into a flag tensor that holds the first step each fault appeared, with no host
sync. :meth:`EnvWatch.check` reads it (one sync) at each logging interval, at
the end, and whenever the run fails, and stops the run naming the env.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: An observation counts as far outside its space beyond this many widths of the space (at least 1).
TOLERANCE_WIDTHS = 10.0
_LIMIT = float(np.finfo(np.float32).max)
FAULTS = ("non-finite observations (NaN or inf)", "observations far outside the declared observation space",
          "non-finite rewards (NaN or inf)")


class EnvFault(FloatingPointError):
    """The environment returned values no run can learn from; the message names the env and the step."""


def _bounds(env: Any) -> tuple[torch.Tensor, torch.Tensor, str] | None:
    """Widened ``(low, high)`` of a Box observation space as ``(obs_dim,)`` tensors, and its range as text."""
    space = getattr(env, "single_observation_space", None)
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or high is None:
        return None
    low = np.asarray(low, dtype=np.float64).reshape(-1)
    high = np.asarray(high, dtype=np.float64).reshape(-1)
    if low.shape[0] != int(getattr(env, "obs_dim", low.shape[0])):
        return None
    width = np.where(np.isfinite(high - low), high - low, 0.0)
    tol = TOLERANCE_WIDTHS * np.maximum(width, 1.0)
    lo = np.clip(np.where(np.isfinite(low), low - tol, -_LIMIT), -_LIMIT, _LIMIT)
    hi = np.clip(np.where(np.isfinite(high), high + tol, _LIMIT), -_LIMIT, _LIMIT)
    text = f"[{low.min():.4g}, {high.max():.4g}]"
    return torch.as_tensor(lo, dtype=torch.float32), torch.as_tensor(hi, dtype=torch.float32), text


class EnvWatch:
    """Watches one env's observations and rewards (see the module docstring).

    Args:
        env: the BatchedEnv (its ``single_observation_space`` and ``device``).
        name: how messages name the env (e.g. ``env.id='pkg.mod:MyEnv'``).
    """

    def __init__(self, env: Any, name: str) -> None:
        self.name = name
        self.device = torch.device(getattr(env, "device", "cpu"))
        bounds = _bounds(env)
        self.lo = self.hi = None
        self.range = ""
        if bounds is not None:
            self.lo, self.hi = bounds[0].to(self.device), bounds[1].to(self.device)
            self.range = bounds[2]
        self.first = torch.full((len(FAULTS),), -1, dtype=torch.long, device=self.device)
        self._last_seen = -1

    def see(self, step: int, obs: torch.Tensor | None, reward: torch.Tensor | None) -> None:
        """Fold step ``step``'s ``obs`` ``(N, obs_dim)`` and ``reward`` ``(N,)`` into the flags (once per step)."""
        if step == self._last_seen:
            return
        self._last_seen = step
        false = torch.zeros((), dtype=torch.bool, device=self.device)
        bad = [false, false, false]
        if isinstance(obs, torch.Tensor) and obs.is_floating_point():
            obs = obs.to(self.device)
            bad[0] = ~torch.isfinite(obs).all()
            if self.lo is not None and obs.shape[-1] == self.lo.shape[0]:
                bad[1] = ~((obs >= self.lo) & (obs <= self.hi)).all() & ~bad[0]
        if isinstance(reward, torch.Tensor) and reward.is_floating_point():
            bad[2] = ~torch.isfinite(reward.to(self.device)).all()
        flags = torch.stack(bad)
        self.first = torch.where((self.first < 0) & flags, torch.full_like(self.first, step), self.first)

    def fault(self) -> str | None:
        """The first fault seen, as a sentence naming the env and the step (one host sync); None if none."""
        first = self.first.tolist()
        seen = [(s, i) for i, s in enumerate(first) if s >= 0]
        if not seen:
            return None
        step, i = min(seen)
        what = FAULTS[i] + (f" {self.range}" if i == 1 else "")
        return (f"{self.name} returned {what} at step {step + 1} (per copy): the environment is at fault, not "
                f"the agent or its learning rate; fix the env (or its env.kwargs)")

    def check(self, cause: BaseException | None = None) -> None:
        """Stop the run (:class:`EnvFault`) if the env has returned a bad value so far.

        ``cause``: the error the run is failing with, chained when the env explains it.
        """
        text = self.fault()
        if text is not None:
            raise EnvFault(text) from cause
