"""Throughput of the batched twins against the same envs in Gymnasium's SyncVectorEnv.

Prints one JSON document: env-steps/s of each twin at N = 1, 64, 1024, 16384
(configurable) and of a ``gymnasium.vector.SyncVectorEnv`` of N single envs
(same-step autoreset, the twins' mode), with their ratio, side by side, plus
machine info. A SyncVectorEnv steps its copies one after another, so its
throughput barely depends on N; it is measured up to ``--sync-cap`` copies and
the capped figure is used beyond (``gymnasium_n`` says which N was measured).

    python benchmarks/envs.py                       # cpu, and cuda when present
    python benchmarks/envs.py --device cpu --sizes 1 1024 --min-time 0.2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # this file would shadow the envs package
    sys.path[0] = str(_ROOT)

import envs  # noqa: E402
from benchmarks.report import emit, machine  # noqa: E402

ENVS = {
    "GridMaze": ("freeenergy/GridMaze-v0", {}),
    "DarkRoom": ("freeenergy/DarkRoom-v0", {}),
    "NoisyTV": ("freeenergy/NoisyTV-v0", {}),
    "PointMaze": ("freeenergy/PointMaze-v0", {"noise_std": 0.1}),
    "MullerBrown": ("freeenergy/MullerBrown-v0", {}),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step, min_time: float, min_steps: int = 5) -> float:
    """Steps per second of ``step()`` (each call = one batched step), after a warm-up."""
    for _ in range(3):
        step()
    steps, t0 = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - t0
        if steps >= min_steps and elapsed >= min_time:
            return steps / elapsed


def bench_twin(env_id: str, kwargs: dict, n: int, device: torch.device, min_time: float) -> float:
    env = envs.make(env_id, num_envs=n, device=device, **kwargs)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    pool = [env.sample_actions(gen) for _ in range(16)]  # drawn up front: time the env, not the sampler
    i = [0]

    def step() -> None:
        env.step(pool[i[0] % 16])
        i[0] += 1

    def step_synced() -> None:
        step()
        _sync(device)

    rate = _timed(step_synced if device.type == "cuda" else step, min_time)
    return rate * n


def bench_gymnasium(env_id: str, kwargs: dict, n: int, min_time: float) -> float:
    vec = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id, **kwargs)] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    vec.reset(seed=0)
    vec.action_space.seed(0)
    pool = [vec.action_space.sample() for _ in range(16)]
    i = [0]

    def step() -> None:
        vec.step(pool[i[0] % 16])
        i[0] += 1

    rate = _timed(step, min_time, min_steps=3)
    vec.close()
    return rate * n


def measure(args: argparse.Namespace, devices: list[torch.device]) -> list[dict]:
    """One row per (env, N, device): the twin's and Gymnasium's env-steps/s and their ratio."""
    results: list[dict] = []
    for name in args.envs:
        env_id, kwargs = ENVS[name]
        gym_rates: dict[int, float] = {}
        for n in sorted(args.sizes):
            m = min(n, args.sync_cap)
            if m not in gym_rates:
                gym_rates[m] = bench_gymnasium(env_id, kwargs, m, args.min_time)
            for device in devices:
                twin = bench_twin(env_id, kwargs, n, device, args.min_time)
                results.append(
                    {
                        "env": name,
                        "device": str(device),
                        "num_envs": n,
                        "twin_steps_per_s": round(twin),
                        "gymnasium_steps_per_s": round(gym_rates[m]),
                        "gymnasium_n": m,
                        "ratio": round(twin / gym_rates[m], 2),
                    }
                )
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", help="'cpu', 'cuda', or 'auto' (cpu, plus cuda when present)")
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 64, 1024, 16384])
    p.add_argument("--sync-cap", type=int, default=1024, help="largest N run as a Gymnasium SyncVectorEnv")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch default); "
                   "1 by default, as the SyncVectorEnv baseline runs on one core")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [envs.base.as_device(args.device)]
    results = measure(args, devices)
    goal = {
        f"{r['env']}@{r['device']}@N={r['num_envs']}": r["ratio"] >= 100
        for r in results
        if r["env"] in ("GridMaze", "DarkRoom") and r["num_envs"] >= 1024
    }
    report = {
        "figure": "env-steps/s of each batched twin vs the same env in a Gymnasium SyncVectorEnv",
        "unit": "env-steps/s; ratio = twin / gymnasium",
        "benchmark": "envs",
        "machine": machine(gymnasium=gym.__version__, numpy=np.__version__, devices=[str(d) for d in devices]),
        "settings": {
            "sizes": sorted(args.sizes),
            "sync_cap": args.sync_cap,
            "sync_cap_note": f"SyncVectorEnv measured at N <= {args.sync_cap}; larger N reuse that rate",
            "min_time_s": args.min_time,
            "actions": "uniform random, drawn before timing",
            "autoreset": "SameStep for both",
        },
        "results": results,
        "goal_100x_at_N_ge_1024": goal,
    }
    emit(report, args.out)
    return report


if __name__ == "__main__":
    main()
