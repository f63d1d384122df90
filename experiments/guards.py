"""Checks that turn a run that cannot work into one clear line before it starts (or as it fails).

- :func:`check_config`: seeds numpy can take, a sane thread count, no NaN or
  infinity in any number of the config.
- :func:`check_memory`: a rough estimate of the memory the run allocates
  (env copies, planner candidates, replay buffer, rollout storage, per-copy
  visits, batches, hidden widths, samples) against what the device has free;
  refuses with the figure.
- :class:`DivergenceGuard`: a logged loss that is not finite, or that blew
  up by many orders of magnitude, stops the run (exit 1) with the reason.
- :func:`check_text_file`: a config file that is not UTF-8 text.

Estimates are deliberately rough (within a small factor): they exist to
refuse the impossible (terabytes), not to budget tightly.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from experiments.config import ConfigError

MAX_SEED = 2**32 - 1
#: A logged loss above BLOWUP_ABS has diverged; so has one above BLOWUP_REL and BLOWUP_FACTOR
#: times its first value. (Losses here are of standardised or small-range data: O(1) to O(1e3).)
BLOWUP_ABS, BLOWUP_REL, BLOWUP_FACTOR = 1e9, 1e6, 1e6


def check_text_file(path: str) -> None:
    """A config path that exists must be UTF-8 text."""
    p = Path(path)
    if not (p.suffix in (".yaml", ".yml") or os.sep in path) or not p.is_file():
        return
    try:
        p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path!r} is not UTF-8 text (byte {err.start}: "
                          f"{err.object[err.start:err.start + 1]!r}); save it as UTF-8") from None


def _numbers(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every (dotted key, value) of a config dataclass, recursively (lists and dicts included)."""
    if dataclasses.is_dataclass(obj):
        out = []
        for f in dataclasses.fields(obj):
            out += _numbers(getattr(obj, f.name), f"{prefix}{f.name}.")
        return out
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in _numbers(v, f"{prefix}{k}.")]
    if isinstance(obj, (list, tuple)):
        return [kv for i, v in enumerate(obj) for kv in _numbers(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), obj)]


def check_config(cfg: Any) -> None:
    """Seeds, threads and finiteness of every number in ``cfg``.

    Raises:
        ConfigError: naming the key, the value and what is valid.
    """
    for key, seed in [("run.seed", cfg.run.seed), *(("run.seeds", s) for s in cfg.run.seeds)]:
        if not 0 <= int(seed) <= MAX_SEED:
            raise ConfigError(f"{key}={seed} is invalid: expected an integer in 0..{MAX_SEED} (2^32-1)")
    limit = max(64, 4 * (os.cpu_count() or 1))
    if cfg.run.threads > limit:
        raise ConfigError(f"run.threads={cfg.run.threads} is invalid: expected 0 (torch's default) up to {limit} "
                          f"(this machine has {os.cpu_count()} CPUs)")
    for key, v in _numbers(cfg):
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}={v} is invalid: expected a finite number")


# ------------------------------------------------------------------ memory

def _fmt(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} B"


def available_bytes(device: Any) -> int:
    """Free memory of ``device`` (CUDA: free device memory; else available RAM)."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


#: Rollout steps of stable-baselines3's on-policy algorithms when ``agent.sb3_kwargs`` sets none (their defaults).
SB3_N_STEPS = {"ppo": 2048, "a2c": 5}


def _agent_parts(cfg: Any, obs_dim: int, act_dim: int, num_cells: int = 0) -> dict[str, tuple[float, str]]:
    """Planner candidates, the world model's replay, rollout storage and per-copy visits: all sized by copies."""
    from experiments import sizes

    a, wm, n = cfg.agent, cfg.world_model, cfg.env.num_envs
    width = obs_dim * 2 + act_dim
    parts: dict[str, tuple[float, str]] = {}
    p, o = a.planner, a.online
    if a.type in ("fe", "afe"):
        rows = n * p.candidates * max(o.ensemble, 1) * max(a.surprise.draws, 1)
        parts["planner"] = (rows * (max(wm.hidden, width) * max(wm.depth, 1) * 3 + p.horizon * act_dim) * 4.0,
                            f"env.num_envs={n} x agent.planner.candidates={p.candidates} x "
                            f"agent.planner.horizon={p.horizon}")
    cap = sizes.replay_capacity(cfg, n, warn=False)
    why = f"agent.online.replay_capacity={o.replay_capacity}"
    if cap > o.replay_capacity:
        why += f", grown to {cap}: {sizes.rows_between_fits(cfg, n)[1]}"
    parts["replay buffer"] = (cap * (width + 4) * 4.0 * max(o.ensemble, 1), why)
    if a.type == "amortised":
        t = a.ppo.rollout
        # Per row: policy input, raw obs and next obs, their normalised copies when scored, the
        # joint row, map_xy, action, log-prob, two values, reward, done, replay slot, advantages.
        parts["rollout storage"] = (t * n * (4.0 * obs_dim + width + 24) * 4.0,
                                    f"agent.ppo.rollout={t} x env.num_envs={n}")
    elif a.type in SB3_N_STEPS:
        t = int(dict(a.sb3_kwargs).get("n_steps", SB3_N_STEPS[a.type]))
        parts["rollout storage"] = (t * n * (obs_dim + 8) * 4.0 * 2,  # SB3's numpy buffer and its torch copy
                                    f"agent.sb3_kwargs.n_steps={t} x env.num_envs={n}")
    i = a.intrinsic
    feat = obs_dim + 2 * o.fourier + 1  # the world model's input features (and E3B's constant)
    if i.name == "population":
        from freeenergy.knn_novelty import CHUNK_ELEMENTS

        # Archive and rollout rows (raw, then embedded at each scoring) and one chunk of distances.
        rows = i.population.archive + a.ppo.rollout * n
        parts["population archive"] = (rows * (width + max(feat, wm.code_dim)) * 4.0 * 2 + CHUNK_ELEMENTS * 4.0,
                                       f"agent.intrinsic.population.archive={i.population.archive} + "
                                       f"agent.ppo.rollout={a.ppo.rollout} x env.num_envs={n}")
    if i.episodic.on:  # each copy's inverse feature covariance, and its Sherman-Morrison update
        parts["episodic covariances"] = (n * feat * feat * 4.0 * 2,
                                         f"env.num_envs={n} x (features {feat})^2, agent.online.fourier={o.fourier}")
    r = cfg.restarts
    if r.every:
        # States (a few numbers each) and the transitions met between two restarts, and their scores.
        parts["restart pool"] = (r.every * n * (2.0 * obs_dim + act_dim + 8) * 4.0 * 2,
                                 f"restarts.every={r.every} x env.num_envs={n}")
    if num_cells:
        parts["per-copy visits"] = (2.0 * n * num_cells, f"env.num_envs={n} x {num_cells} map cells")
    return parts


def _trajectory_parts(cfg: Any, obs_dim: int, act_dim: int, num_cells: int = 0) -> dict[str, tuple[float, str]]:
    """Every position of every copy, kept for the reweighting."""
    n, steps = cfg.env.num_envs, cfg.run.steps
    return {"trajectory": (steps * n * 4.0 * 1.2, f"run.steps={steps} x env.num_envs={n}")}


def _data_parts(cfg: Any, obs_dim: int, act_dim: int, num_cells: int = 0) -> dict[str, tuple[float, str]]:
    """The data set, the samples and a full batch."""
    g, wm = cfg.generative, cfg.world_model
    dim = max(obs_dim, 3)
    return {"data and samples": ((cfg.data.n + 2 * g.samples) * dim * 8.0 * 4,
                                 f"data.n={cfg.data.n}, generative.samples={g.samples}"),
            "batch": (max(g.batch_size, cfg.data.n) * max(wm.hidden, dim) * max(wm.depth, 1) * 4.0 * 8,
                      f"generative.batch_size={g.batch_size or 'all'} x world_model.hidden={wm.hidden}")}


#: The memory parts a run kind may name (its ``RunKind.memory``).
ESTIMATES = {"agent": _agent_parts, "trajectory": _trajectory_parts, "data": _data_parts}


def estimate_parts(cfg: Any, obs_dim: int = 8, act_dim: int = 4, num_cells: int = 0
                   ) -> dict[str, tuple[float, str]]:
    """Rough bytes of the big allocations, each with the settings it follows from.

    ``num_cells``: the env's map cells (every copy keeps a visited flag per cell; 0: unknown).
    """
    from experiments.kinds import run_kind

    wm, n = cfg.world_model, cfg.env.num_envs
    width = obs_dim * 2 + act_dim
    parts: dict[str, tuple[float, str]] = {
        "env copies": (n * (obs_dim + act_dim) * 4.0 * 16, f"env.num_envs={n}"),
        "world-model batch": (wm.batch_size * max(wm.hidden, width) * max(wm.depth, 1) * 4.0 * 8,
                              f"world_model.batch_size={wm.batch_size} x world_model.hidden={wm.hidden}"),
        "world-model weights": (wm.hidden * wm.hidden * max(wm.depth, 1) * 4.0 * 4,
                                f"world_model.hidden={wm.hidden} (weights and Adam state)"),
    }
    for name in run_kind(cfg.run.kind).memory:
        parts.update(ESTIMATES[name](cfg, obs_dim, act_dim, num_cells))
    return parts


def check_memory(cfg: Any, device: Any, obs_dim: int = 8, act_dim: int = 4, num_cells: int = 0) -> None:
    """Refuse a run whose estimated memory exceeds what ``device`` has free.

    Raises:
        ConfigError: with the estimate, the biggest part and the settings behind it.
    """
    parts = estimate_parts(cfg, obs_dim, act_dim, num_cells)
    total = sum(b for b, _ in parts.values())
    free = available_bytes(device)
    if total <= free:
        return
    name, (big, why) = max(parts.items(), key=lambda kv: kv[1][0])
    raise ConfigError(f"this run needs about {_fmt(total)} but {device} has {_fmt(free)} free: the {name} alone "
                      f"is about {_fmt(big)} ({why}); make it smaller")


# ------------------------------------------------------------------ divergence

class DivergenceGuard:
    """Watches logged losses: not finite, or blown up, stops the run with FloatingPointError."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}

    def check(self, metrics: dict[str, Any], step: int) -> None:
        for key, v in metrics.items():
            if not (key == "loss" or key.endswith("/loss")):
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v):
                raise FloatingPointError(f"{key} became {v} at step {step}: the run diverged (lower the "
                                         f"learning rate, e.g. world_model.lr, or check the inputs for NaN)")
            first = self.first.setdefault(key, abs(v))
            if abs(v) > BLOWUP_ABS or (abs(v) > BLOWUP_REL and abs(v) > BLOWUP_FACTOR * max(first, 1e-12)):
                raise FloatingPointError(f"{key} blew up to {v:.3g} at step {step} (from {first:.3g}): the run "
                                         f"diverged; lower the learning rate (e.g. world_model.lr)")
