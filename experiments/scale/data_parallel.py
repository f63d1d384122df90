"""Hooks of the agent loop for data-parallel runs (see :mod:`experiments.scale.distributed`).

The tracker of a data-parallel run: every rank counts its own copies; figures and maps
are computed from the all-reduced counts, so rank 0 reports every copy."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist

from agents.explore import Visitation
from experiments.context import RunContext
from experiments.scale.distributed import Dist, gather_rows
from experiments.tracker import Tracker


class DistTracker(Tracker):
    """A :class:`Tracker` over this rank's copies whose reports cover all ranks' copies.

    Every reporting method is a collective: all ranks call it at the same steps
    (the loop is the same everywhere).
    """

    def __init__(self, env: Any, steps: int, d: Dist) -> None:
        super().__init__(env, steps)
        self.d = d
        self.vis.__class__ = _SharedVisitation  # the run's visits array covers every rank

    def _reduced(self, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @contextmanager
    def _global(self) -> Iterator[None]:
        """Swap in all ranks' sums for the duration of a report."""
        local = (self.vis, self.fe, self.reward, self.metrics, self.succeeded, self.episodes, self.episodes_total)
        vis = Visitation(self.vis.grid_shape, self.env.num_envs * self.d.world, None, self.vis.device)
        vis.reachable, vis.knows_reachable = self.vis.reachable, self.vis.knows_reachable  # one coverage_of
        vis.counts = self._reduced(self.vis.counts)
        vis.env_visited = gather_rows(self.vis.env_visited)
        self.vis = vis
        self.fe, self.reward = self._reduced(self.fe), self._reduced(self.reward)
        # Every rank runs the same env kind, so the metric names (and their order) agree.
        self.metrics = {name: self._reduced(acc) for name, acc in self.metrics.items()}
        self.succeeded = gather_rows(self.succeeded)
        self.episodes, self.episodes_total = self._reduced(self.episodes), self._reduced(self.episodes_total)
        try:
            yield
        finally:
            fe_left, reward_left, episodes_left = self.fe, self.reward, self.episodes
            self.vis, self.fe, self.reward, self.metrics, self.succeeded, self.episodes, self.episodes_total = local
            if not bool(fe_left.any()):  # the report reset the interval sums: reset ours too
                self.fe.zero_()
            if not bool(reward_left.any()):
                self.reward.zero_()
            if not bool(episodes_left.any()):
                self.episodes_total += self.episodes[2]
                self.episodes.zero_()

    def interval_metrics(self, step: int) -> dict[str, float]:
        with self._global():
            out = super().interval_metrics(step)
        out["env/steps_per_second"] *= self.d.world  # every rank steps its copies in the same time
        return out

    def summary(self) -> dict[str, float]:
        with self._global():
            return super().summary()

    def draw(self, ctx: RunContext, step: int) -> None:
        with self._global():
            if self.d.rank == 0:
                super().draw(ctx, step)

    def global_heatmap(self) -> torch.Tensor:
        return self._reduced(self.vis.counts).reshape(self.vis.grid_shape[1], self.vis.grid_shape[0]).cpu()


class _SharedVisitation(Visitation):
    """Visitation whose heatmap (a collective) sums all ranks' counts."""

    def heatmap(self) -> torch.Tensor:
        counts = self.counts.clone()
        dist.all_reduce(counts)
        nx, ny = self.grid_shape
        return counts.reshape(ny, nx).cpu()


def setup(ctx: RunContext, generator: torch.Generator) -> tuple[RunContext, Any, Any, Tracker]:
    """This rank's context, env copies, agent and tracker for a data-parallel agent run."""
    from experiments.build import make_agent, make_env
    from experiments.scale.distributed import DistContext, ShardEnv, current, shard_agent

    d = current()
    cfg = ctx.cfg
    n = cfg.env.num_envs
    lo, count = d.shard(n)
    local = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, num_envs=count))
    dctx = DistContext.wrap(ctx, d)
    env = ShardEnv(env=make_env(cfg, ctx.device, num_envs=count), offset=lo)
    agent = shard_agent(make_agent(local, env, ctx.device, generator), d, n)
    tracker = DistTracker(env, cfg.run.steps, d)
    return dctx, env, agent, tracker


def finish(result: dict, ctx: RunContext) -> dict:
    """Whole-job figures in the summary: env steps and env-steps/s of all ranks together."""
    from experiments.scale.distributed import current

    d = current()
    result = dict(result)
    result["env_steps"] = ctx.cfg.run.steps * ctx.cfg.env.num_envs
    result["env_steps_per_second"] = result["env_steps_per_second"] * d.world
    result["world_size"] = d.world
    return result
