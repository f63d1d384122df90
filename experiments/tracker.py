"""Tracker: what a run measures about the env, whatever the agent.

It knows no particular world. Every env reports through the metrics protocol
(``envs.base`` module docstring):

- ``info["map_xy"]`` / ``info["final_map_xy"]``: visits, coverage and the exploration map;
- ``info["metrics"]``: ``name -> (N,)`` per-copy values of this step; the run
  reports each as the mean over copy-steps, ``env/<name>`` while it runs (the
  mean so far) and ``<name>`` in the summary. Names the env lists in its
  ``late_metrics`` are averaged over the second half of the run only (late
  behaviour, e.g. DarkRoom's ``dark_fraction``);
- ``info["is_success"]``: ``(N,)`` bool; ``success_rate`` is the share of copies
  that succeeded at least once. Where an env gives no ``is_success``, an
  episode that ended by termination counts as a success only if the env's
  ``terminal_is_success`` says so (else ``success_rate`` is not reported);
- episodes: every copy's return (the env's reward) and length, so each
  interval logs ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean``, the mean
  over the episodes that ended in it (an episode ends when it terminates or is
  truncated), and the summary counts them (``episodes_ended``);
- ``env.summary_metrics()`` (optional): run-level figures the env keeps itself,
  merged into the summary; an env that keeps them also offers
  ``summary_state()`` / ``load_summary_state(state)`` (plain ints and floats),
  which checkpoints carry, so a resumed run keeps counting.

All running sums stay tensors on the env's device: no host sync per step.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from agents.explore import Visitation


def _tensor(values: Any, device: torch.device) -> torch.Tensor:
    """``values`` (tensor, numpy array, list or number) as a tensor on ``device``."""
    if isinstance(values, torch.Tensor):
        return values.to(device)
    return torch.as_tensor(np.asarray(values), device=device)


def _accumulate(acc: torch.Tensor, values: torch.Tensor) -> None:
    """Add ``values``' sum and count to ``acc`` = [sum, count] in place, on ``acc``'s device."""
    acc[0] += values.to(acc.device, torch.float64).sum()
    acc[1] += values.numel()


def success_mask(terminated: torch.Tensor, info: dict[str, Any], terminal_is_success: bool = True
                 ) -> torch.Tensor | None:
    """``(N,)`` bool: copies that succeeded this step (``info["is_success"]``, else termination
    where the env counts it as success); None when the env says nothing about success."""
    if "is_success" in info:
        return _tensor(info["is_success"], terminated.device).bool()
    return terminated.bool() if terminal_is_success else None


class Tracker:
    """Coverage, env metrics, success and free-energy figures of a run of ``steps`` steps per copy."""

    def __init__(self, env: Any, steps: int) -> None:
        self.env = env
        self.steps = steps
        self.vis = Visitation.for_env(env)
        self.late = frozenset(getattr(env, "late_metrics", ()))
        # name -> [sum, count] over copy-steps, on the env's device, in first-seen order.
        self.metrics: dict[str, torch.Tensor] = {}
        self.fe = self._zeros()      # free-energy sum and count since the last interval
        self.reward = self._zeros()  # reward sum and count since the last interval
        n, dev = env.num_envs, env.device
        self.ep_return = torch.zeros(n, dtype=torch.float64, device=dev)  # of each copy's running episode
        self.ep_length = torch.zeros(n, dtype=torch.float64, device=dev)
        self.episodes = torch.zeros(3, dtype=torch.float64, device=dev)  # return sum, length sum, count
        self.episodes_total = torch.zeros((), dtype=torch.float64, device=dev)
        self.succeeded = torch.zeros(env.num_envs, dtype=torch.bool, device=env.device)
        self.has_success = False  # the env has said something about success (see success_mask)
        self.start_xy: Any = None  # (K, 2) distinct start positions, starred on the maps
        self.last_fe = float("nan")
        self._last_rate = (time.perf_counter(), 0)

    def _zeros(self) -> torch.Tensor:
        return torch.zeros(2, dtype=torch.float64, device=self.env.device)

    def start(self, info: dict[str, Any]) -> None:
        """Count the cells of the first observations (``env.last_info`` after reset)."""
        self.vis.add(self.env.map_cells(info["map_xy"]))
        self.start_xy = torch.as_tensor(info["map_xy"]).detach().cpu().unique(dim=0).numpy()

    def step(self, t: int, reward: torch.Tensor, terminated: torch.Tensor, info: dict[str, Any],
             fe: torch.Tensor | None, truncated: torch.Tensor | None = None) -> None:
        """Record step ``t`` (0-based): ``reward``/``terminated``/``truncated`` ``(N,)``, the env's ``info``,
        ``fe`` ``(N,)``."""
        self.vis.add(self.env.map_cells(info["final_map_xy"]))
        late = t >= self.steps // 2
        for name, values in (info.get("metrics") or {}).items():
            if name.startswith("_"):  # Gymnasium vector envs add "_name" masks beside each key
                continue
            acc = self.metrics.setdefault(name, self._zeros())
            if late or name not in self.late:
                _accumulate(acc, _tensor(values, self.env.device).float())
        won = success_mask(terminated, info, getattr(self.env, "terminal_is_success", True))
        if won is not None:
            self.has_success = True
            self.succeeded |= won.to(self.succeeded.device)
        _accumulate(self.reward, reward)
        if fe is not None:
            _accumulate(self.fe, fe)
        self._episodes(reward, terminated, truncated)

    def _episodes(self, reward: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor | None) -> None:
        """Add this step to each copy's episode; fold the episodes that ended into the interval's sums."""
        dev = self.ep_return.device
        self.ep_return += reward.to(dev, torch.float64).reshape(-1)
        self.ep_length += 1
        done = terminated.to(dev).bool().reshape(-1)
        if truncated is not None:
            done = done | truncated.to(dev).bool().reshape(-1)
        d = done.to(torch.float64)
        self.episodes += torch.stack([(self.ep_return * d).sum(), (self.ep_length * d).sum(), d.sum()])
        self.ep_return *= 1 - d
        self.ep_length *= 1 - d

    def _env_means(self) -> dict[str, float]:
        return {name: acc[0] / max(acc[1], 1.0) for name, acc in zip(self.metrics, self._host(self.metrics))}

    @staticmethod
    def _host(accs: dict[str, torch.Tensor]) -> list[list[float]]:
        return torch.stack(list(accs.values())).tolist() if accs else []

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Figures since the last call, env-steps/s included; resets the interval sums."""
        self.refresh_reachable()
        now = time.perf_counter()
        last_t, last_step = self._last_rate
        self._last_rate = (now, step)
        out = dict(self.vis.metrics())
        out["env/steps_per_second"] = (step - last_step) * self.env.num_envs / max(now - last_t, 1e-9)
        fe, reward = self.fe.tolist(), self.reward.tolist()
        if fe[1]:
            self.last_fe = fe[0] / fe[1]
            out["agent/free_energy"] = self.last_fe
        if reward[1]:
            out["env/reward_mean"] = reward[0] / reward[1]
        ret, length, count = self.episodes.tolist()
        if count:
            out["rollout/ep_rew_mean"], out["rollout/ep_len_mean"] = ret / count, length / count
        self.episodes_total += self.episodes[2]
        self.episodes.zero_()
        if self.has_success:
            out["env/success_rate"] = float(self.succeeded.float().mean())
        for name, (total, count) in zip(self.metrics, self._host(self.metrics)):
            if count:  # a late metric appears once the second half has begun
                out[f"env/{name}"] = total / count
        self.fe.zero_()
        self.reward.zero_()
        return out

    def start_clock(self, step: int) -> None:
        """Measure the next interval's env-steps/s from now and ``step``."""
        self._last_rate = (time.perf_counter(), step)

    def summary(self) -> dict[str, Any]:
        self.refresh_reachable()
        out: dict[str, Any] = {
            "coverage": self.vis.coverage, "unique_cells": self.vis.unique_cells,
            "mean_env_coverage": self.vis.mean_env_coverage,
            "final_free_energy": self.last_fe if math.isfinite(self.last_fe) else None,
            "success_rate": float(self.succeeded.float().mean()) if self.has_success else None,
            "episodes_ended": int(self.episodes_total + self.episodes[2])}
        # Coverage is honest about its denominator: a plugged-in env without a reachable set is
        # scored against every cell of its map grid (Pendulum's angle-velocity box cannot be filled).
        out["coverage_cells"] = int(self.vis.reachable.sum())
        out["coverage_of"] = self.coverage_of()
        out.update(self._env_means())
        summary_metrics = getattr(self.env, "summary_metrics", None)
        if callable(summary_metrics):
            out.update(summary_metrics())
        return out

    def coverage_of(self) -> str:
        """What coverage is a share of, in words: the reachable cells, or every cell of a grid and where
        that grid comes from (a guessed one says so)."""
        if self.vis.knows_reachable:
            grows = getattr(self.env, "reachable_grows", False)
            return "reachable cells" + (" of the layouts drawn so far" if grows else "")
        nx, ny = self.vis.grid_shape
        source = getattr(self.env, "grid_source", None) or "the env gives no reachable set"
        return f"all {nx}x{ny} map cells ({source})"

    def refresh_reachable(self) -> None:
        """Re-read the reachable cells of an env whose layouts change (``reachable_grows``)."""
        if not getattr(self.env, "reachable_grows", False):
            return
        cells = self.env.reachable_cells
        mask = torch.zeros_like(self.vis.reachable)
        if cells is not None and len(cells):
            mask[torch.as_tensor(cells, device=mask.device).long()] = True
        self.vis.reachable = mask | self.vis.visited  # a cell stood on was reachable

    def state_dict(self) -> dict:
        out = {"vis": self.vis.state_dict(), "metrics": {k: v.tolist() for k, v in self.metrics.items()},
               "succeeded": self.succeeded.cpu().clone(), "has_success": self.has_success, "last_fe": self.last_fe,
               "start_xy": None if self.start_xy is None else torch.as_tensor(self.start_xy),
               "episodes": {"return": self.ep_return.cpu().clone(), "length": self.ep_length.cpu().clone(),
                            "sums": self.episodes.cpu().clone(), "total": self.episodes_total.cpu().clone()}}
        if callable(getattr(self.env, "summary_state", None)):  # the env's own run-level counters
            out["env_summary"] = self.env.summary_state()
        return out

    def load_state_dict(self, s: dict) -> None:
        self.vis.load_state_dict(s["vis"])
        self.metrics = {k: torch.tensor(v, dtype=torch.float64, device=self.env.device)
                        for k, v in s["metrics"].items()}
        self.succeeded = s["succeeded"].to(self.succeeded.device)
        self.has_success = bool(s.get("has_success", True))
        start = s.get("start_xy")
        self.start_xy = None if start is None else start.numpy()
        self.last_fe = float(s["last_fe"])
        ep = s.get("episodes")
        if ep is not None:  # checkpoints from before episodes were counted start them afresh
            dev = self.ep_return.device
            self.ep_return, self.ep_length = ep["return"].to(dev), ep["length"].to(dev)
            self.episodes, self.episodes_total = ep["sums"].to(dev), ep["total"].to(dev)
        if "env_summary" in s and callable(getattr(self.env, "load_summary_state", None)):
            self.env.load_summary_state(s["env_summary"])

    def draw(self, ctx: Any, step: int) -> None:
        """Exploration map (visits per cell, walls = unreachable cells on grid worlds)."""
        from experiments.io.maps import percent, plot_exploration_map

        self.refresh_reachable()
        counts = self.vis.heatmap().numpy()
        walls = None
        if self.vis.knows_reachable:
            walls = ~self.vis.reachable.reshape(counts.shape).cpu().numpy()
        top = float(self.steps * self.env.num_envs)
        xlabel, ylabel = getattr(self.env, "map_labels", ("x", "y"))
        name = getattr(self.env, "title", None) or ctx.cfg.env.id
        n = self.env.num_envs
        fig = plot_exploration_map(counts, self.env.map_bounds, walls=walls, vmax=top,
                                   log=ctx.cfg.logging.map_log_scale, xlabel=xlabel, ylabel=ylabel,
                                   start=self.start_xy,
                                   title=f"{name} ({ctx.cfg.run.name or 'agent'}): step {step:,} per copy "
                                         f"({step * n:,} env steps)\ncoverage {percent(self.vis.coverage)} of "
                                         f"{'reachable' if self.vis.knows_reachable else 'all'} cells, all {n} copies")
        ctx.save_figure(fig, "exploration_map", step)
