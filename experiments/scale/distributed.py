"""Data-parallel agent runs under ``torchrun`` (the DD-PPO pattern, Wijmans et al. 2020).

    torchrun --nproc_per_node K -m experiments run PRESET [overrides] [--out DIR]
    torchrun --nproc_per_node K -m experiments resume RUN_DIR          # same K

Each of the K ranks steps its own ``env.num_envs / K`` copies (copies
``offset .. offset + n`` of the single-process run: same env noise keys) on
its own device (``cuda:LOCAL_RANK`` with ``env.device=cuda``) and plans their
actions; world-model gradients are averaged by ``DistributedDataParallel``
(NCCL on GPUs, gloo on CPU). Rank 0 alone writes the run folder (config,
metrics, W&B, maps, checkpoints); visitation counts and the other tracked sums
are all-reduced first, so its maps and figures cover every copy.

Data layout: the transitions of a step are all-gathered (``N x D`` floats, small
next to the planning they come from), so every rank's replay and input
normaliser hold the same rows as a single process. A world-model step draws the
full batch from a generator kept in step on every rank, and each rank computes
the loss on its own ``1/K`` slice; the averaged gradient is the full batch's.

Deterministic configuration (a K-process run reaches the single process's
world-model parameters to float tolerance, checked in the tests): a loss
without noise (``world_model.name=ae``, or ``rae`` with ``sigma=0``), random
actions throughout (``agent.warmup_steps >= run.steps``; warm-up actions are
drawn for all N copies on every rank and sliced), ``world_model.batch_size``
and ``env.num_envs`` divisible by K. Planning draws its candidates per rank,
so past warm-up a data-parallel run is a different (equally valid) sample.

Supported: ``run.kind=agent`` with ``agent.type`` fe, afe or random, one
seed, no surprise head, no rare-state biasing, ``action_repeat=1``, not the
GAN. Resuming needs the same K, and (multi-node) a run folder every node sees.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from experiments.config import Config, ConfigError
from experiments.context import RunContext, rng_state, set_rng_state


@dataclasses.dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int
    world: int
    local_rank: int

    def shard(self, n: int) -> tuple[int, int]:
        """(offset, count) of this rank's copies out of ``n``."""
        per = n // self.world
        return self.rank * per, per


_CURRENT: Dist | None = None


def current() -> Dist | None:
    """The job this process belongs to (after :func:`init`), or None for a plain run."""
    return _CURRENT


def launched() -> bool:
    """True under ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def check_supported(cfg: Config, world: int) -> None:
    """One ConfigError line for a config that cannot run data-parallel."""
    a = cfg.agent
    rules = [
        (cfg.run.kind == "agent", "run.kind", cfg.run.kind, "agent"),
        (a.type in ("fe", "afe", "random"), "agent.type", a.type, "fe, afe or random"),
        (len(cfg.run.seeds) <= 1, "run.seeds", list(cfg.run.seeds), "one seed (run the seeds as a sweep)"),
        (cfg.env.num_envs % world == 0, "env.num_envs", cfg.env.num_envs, f"a multiple of the {world} processes"),
        (cfg.world_model.batch_size % world == 0, "world_model.batch_size", cfg.world_model.batch_size,
         f"a multiple of the {world} processes"),
        (cfg.world_model.name != "gan", "world_model.name", cfg.world_model.name, "not gan (two optimisers)"),
        (not a.online.surprise_head, "agent.online.surprise_head", a.online.surprise_head, "false"),
        (a.planner.action_repeat == 1, "agent.planner.action_repeat", a.planner.action_repeat, "1"),
        (cfg.umbrella.windows == 0, "umbrella.windows", cfg.umbrella.windows, "0 (no rare-state biasing)"),
    ]
    for ok, key, value, valid in rules:
        if not ok:
            raise ConfigError(f"{key}={value!r} is invalid for a data-parallel run (torchrun): expected {valid}")


def init(cfg: Config) -> Dist:
    """Join the torchrun job: NCCL for CUDA runs, gloo otherwise; each rank on its local GPU."""
    global _CURRENT
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    check_supported(cfg, world)
    cuda = cfg.env.device.startswith("cuda") or (cfg.env.device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local)  # "cuda" then means this rank's GPU
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    _CURRENT = Dist(rank=rank, world=world, local_rank=local)
    return _CURRENT


def shutdown(*, finished: bool) -> None:
    """Leave the job. Ranks that finished wait for each other first, and the DDP wrappers that hold the
    gloo group are freed while the interpreter is whole: a rank that tears its group down while its peer
    still talks on it, or at interpreter exit, aborts ("terminate called without an active exception")."""
    global _CURRENT
    if dist.is_initialized():
        if finished:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()
    _CURRENT = None


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(x: Tensor) -> Tensor:
    """Every rank's ``(n, ...)`` rows, concatenated in rank order (= copy order)."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def check_single_process(resume: dict | None) -> None:
    """A data-parallel checkpoint cannot be resumed by one process: say how to resume it."""
    if resume is not None and "ranks" in resume:
        k = len(resume["ranks"])
        raise ConfigError(f"this checkpoint was written by {k} data-parallel processes: resume it with "
                          f"torchrun --nproc_per_node {k} -m experiments resume RUN_DIR")


# ------------------------------------------------------------------ the env and the agent
class ShardEnv:
    """This rank's copies; ``reset(seed)`` gives them the single process's noise keys (seed + offset)."""

    def __init__(self, *, env: Any, offset: int) -> None:
        self._env, self._offset = env, offset

    def reset(self, seed: int | None = None, options: dict | None = None) -> Tensor:
        return self._env.reset(seed=None if seed is None else seed + self._offset, options=options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


class _Loss(nn.Module):
    """A world model's own ``loss`` as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        return self.model.loss(x, weights)


class ShardWorld:
    """An :class:`~agents.online.OnlineWorldModel` whose data is gathered and whose steps are averaged.

    Everything but ``observe`` and ``fit`` is the wrapped world's (replay, encoder, members, ...).
    """

    def __init__(self, *, world: Any, d: Dist) -> None:
        self._world, self._d = world, d
        ids = [world.device.index or 0] if world.device.type == "cuda" else None
        self._ddp = [nn.parallel.DistributedDataParallel(_Loss(m), device_ids=ids) for m in world.members]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)

    def observe(self, obs: Tensor, actions: Tensor, next_obs: Tensor, weights: Tensor | None = None) -> Tensor:
        """Store every rank's transitions (same replay everywhere); returns this rank's rows ``(n, D)``."""
        w = self._world
        raw = w.encoder.raw(obs, actions, next_obs)
        every = gather_rows(raw)
        w.encoder.update(every[:, w.encoder.raw_next_slice])
        w.replay.add(every, None if weights is None else gather_rows(weights))
        return w.encoder.normalise_raw(raw)

    def fit(self, steps: int = 1) -> dict[str, float]:
        """``steps`` averaged optimiser steps per member; each rank's loss is on its slice of the batch."""
        w = self._world
        if len(w.replay) == 0 or steps <= 0:
            return w.last_metrics
        metrics: dict[str, float] = {}
        size = w.fit_batch(int(steps))  # the same on every rank: every rank stores every rank's rows
        for _ in range(int(steps)):
            for i, (m, ddp) in enumerate(zip(w.members, self._ddp)):
                raw, weights = w._batch(size)  # the full batch: the generator moves alike on every rank
                lo, n = self._d.shard(raw.shape[0])
                x = w.encoder.normalise_raw(raw[lo:lo + n])
                opt = m.optimiser()
                opt.zero_grad(set_to_none=True)
                total, terms = ddp(x, None if bool((weights == 1).all()) else weights[lo:lo + n])
                if not torch.isfinite(total):
                    raise FloatingPointError(f"{type(m).__name__} loss is {total.item()}; lower lr?")
                total.backward()  # DDP averages the gradients over ranks here
                opt.step()
                if i == 0:
                    metrics = {k: float(v) for k, v in terms.items()}
            w.fit_steps += 1
        w.rows_fitted += int(steps) * size
        w.last_metrics = metrics
        return metrics


def shard_agent(agent: Any, d: Dist, num_envs: int) -> Any:
    """Give a planning agent the gathered world and full-width random draws (sliced to this rank)."""
    if hasattr(agent, "world"):
        agent.world = ShardWorld(world=agent.world, d=d)
    draw = getattr(agent, "_random_actions", None)
    if draw is not None:
        def sliced(n: int) -> Tensor:
            lo, count = d.shard(num_envs)
            return draw(num_envs)[lo:lo + count]
        agent._random_actions = sliced  # one draw stream for all ranks, as in one process
    elif hasattr(agent, "act") and hasattr(agent, "generator"):  # the random baseline
        inner = agent.act

        def act(obs: Tensor) -> Tensor:
            lo, count = d.shard(num_envs)
            full = inner(obs.new_zeros((num_envs, *obs.shape[1:])))
            return full[lo:lo + count]
        agent.act = act
    return agent


# ------------------------------------------------------------------ the run context
class DistContext(RunContext):
    """A RunContext that reports on rank 0 only and checkpoints every rank's state together."""

    dist_info: Dist | None = None

    @classmethod
    def wrap(cls, ctx: RunContext, d: Dist) -> DistContext:
        fields = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)}
        out = cls(**fields)
        out.dist_info = d
        return out

    @property
    def lead(self) -> bool:
        return self.dist_info is None or self.dist_info.rank == 0

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.lead:
            super().log(metrics, step)

    def save_figure(self, fig: Any, name: str, step: int | None = None) -> Path:
        if self.lead:
            return super().save_figure(fig, name, step)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return self.out_dir / f"{name}.png"

    def save_array(self, name: str, array: Any) -> Path:
        return super().save_array(name, array) if self.lead else self.out_dir / f"{name}.npy"

    def progress(self, total: int, desc: str, **kwargs: Any) -> Any:
        if not self.lead:
            kwargs["disable"] = True
            from tqdm.auto import tqdm

            return tqdm(total=total, **kwargs)
        return super().progress(total, desc, **kwargs)

    def save_checkpoint(self, state: dict) -> Path:
        """Gather every rank's state (and RNGs); rank 0 writes them in one checkpoint.

        Skipped while an interrupt unwinds: the ranks stop at different steps, so a
        collective could not complete; the run resumes from its last periodic checkpoint.
        """
        if isinstance(sys.exc_info()[1], KeyboardInterrupt):
            return self.checkpoint_path
        mine = {"state": state, "rng": rng_state()}
        states = [None] * self.dist_info.world
        dist.all_gather_object(states, mine)
        if not self.lead:
            return self.checkpoint_path
        return super().save_checkpoint({"step": int(state["step"]), "world_size": self.dist_info.world,
                                        "ranks": states})

    def load_checkpoint(self) -> dict | None:
        """This rank's state from a data-parallel checkpoint (its RNGs restored)."""
        if self.resume_state is None:
            return None
        ranks = self.resume_state.get("ranks")
        if ranks is None or len(ranks) != self.dist_info.world:
            have = "a single-process run" if ranks is None else f"{len(ranks)} processes"
            raise ConfigError(f"this checkpoint was written by {have}: resume it with as many processes "
                              f"(torchrun --nproc_per_node), not {self.dist_info.world}")
        mine = ranks[self.dist_info.rank]
        set_rng_state(mine["rng"])
        return mine["state"]


# ------------------------------------------------------------------ the run, per rank
def _follower_ctx(cfg: Config, run_dir: Path, seed: int, resume: dict | None) -> RunContext:
    """The context of a rank > 0: same config and seed, reports nothing (rank 0 writes the folder)."""
    from experiments.context import resolve_device
    from experiments.io.logger import Logger
    from experiments.runner import seed_everything

    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    seed_everything(seed)
    return RunContext(cfg=cfg, out_dir=Path(run_dir), device=resolve_device(cfg.env.device), seed=seed,
                      logger=Logger(), quiet=True, resume_state=None if resume is None else resume["state"],
                      last_step=-1 if resume is None else int(resume["step"]))


def run_launched(cfg: Config, out: str | None, quiet: bool, overwrite: bool) -> tuple[dict, Path]:
    """``freeenergy run`` under torchrun: rank 0 runs it as usual, the others alongside it."""
    from experiments.runner import experiment_fn, preflight, prepare_run_dir, run_single

    d = init(cfg)
    finished = False
    try:
        preflight(cfg)  # on every rank: a bad config stops all of them before any collective
        seed = cfg.run.seeds[0] if cfg.run.seeds else cfg.run.seed
        if d.rank == 0:
            try:
                run_dir = prepare_run_dir(cfg, out, seed, overwrite=overwrite)
            except Exception as err:
                broadcast({"error": str(err)})
                raise
            broadcast({"dir": str(run_dir)})
            summary = run_single(cfg, run_dir, seed, quiet)
        else:
            msg = broadcast(None)
            if "error" in msg:
                raise ConfigError(f"rank 0 could not prepare the run folder: {msg['error']}")
            run_dir = Path(msg["dir"])
            summary = experiment_fn(cfg.run.kind)(_follower_ctx(cfg, run_dir, seed, None))
        finished = True
        return summary, run_dir
    finally:
        shutdown(finished=finished)


def resume_launched(run_dir: str | Path, quiet: bool) -> tuple[dict, Path]:
    """``freeenergy resume`` under torchrun (the same number of processes as the run had)."""
    from experiments.context import load_checkpoint_file
    from experiments.errors import CheckpointError
    from experiments.runner import experiment_fn, load_run_config, preflight, run_single

    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)  # every rank checks, so a bad folder stops all of them
    if (run_dir / "summary.json").exists():
        raise CheckpointError(f"{str(run_dir)!r} already completed (summary.json exists); nothing to resume")
    ckpt = load_checkpoint_file(run_dir / "checkpoint.pt")
    d = init(cfg)
    finished = False
    try:
        preflight(cfg)
        seed = int(ckpt.get("seed", cfg.run.seed))
        if d.rank == 0:
            summary = run_single(cfg, run_dir, seed, quiet, resume=ckpt)
        else:
            summary = experiment_fn(cfg.run.kind)(_follower_ctx(cfg, run_dir, seed, ckpt))
        finished = True
        return summary, run_dir
    finally:
        shutdown(finished=finished)
