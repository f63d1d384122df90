"""Throughput: the amortised agent beside a compiled JAX PPO and stable-baselines3 PPO, in one JSON.

Side by side on the same machine, env-steps/s:

- ``amortised``: the amortised agent (``agent.type: amortised``, torch PPO with two
  value heads) on the batched CartPole twin (``freeenergy/CartPole-v1``), once with
  ``agent.intrinsic.name: none`` (PPO alone) and once with ``afe`` (the RAE scores every
  transition and fits on replay: world-model learning included, its batch grown with
  the copies so that each transition is trained on ``agent.online.samples_per_transition``
  times; the row reports the measured ``samples_per_transition``), each eager and
  compiled (``agent.ppo.compile``, ``--compile``), at each ``--envs`` on the CPU always
  and at each ``--cuda-envs`` on CUDA when there is one;
- ``anchor_jax_ppo``: PPO on gymnax's CartPole-v1 compiled whole under ``jax.jit`` +
  ``lax.scan`` (``benchmarks/anchor_jax_ppo.py``, run in its own process), with the
  same rollout, epochs, minibatches and widths, at the same copies and device
  (and on the CPU confined to as many cores as torch's ``--threads``). Without jax
  (the extra ``bench``) the anchor rows are left out with a note;
- ``sb3``: stable-baselines3 PPO on Gymnasium's ``CartPole-v1`` with 8 envs
  (``make_vec_env``) with SB3's defaults and with the RL Zoo's tuned CartPole
  settings; the faster is the reference of ``ratio_to_sb3``.

Measured in turns: for each number of copies, ``--repeats`` times, the anchor and then
every amortised row, so that a busy machine slows both alike. Each row gives the median
over the repeats (``env_steps_per_second``), every run (``runs``) and their range
(``spread``); ``ratio_to_anchor`` is the median of the ratios to the anchor of the same
turn (``ratio_runs``, ``ratio_spread``).

    python benchmarks/throughput.py [--device auto|cpu|cuda ...] [--envs 64 256 1024 4096]
        [--cuda-envs 1024 8192 32768 131072] [--bonus none afe] [--compile off on] [--repeats 3]
        [--steps 65536] [--sb3-steps 32768] [--no-anchor] [--quick] [--out PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# Run as a script, this folder comes first on sys.path, where benchmarks/envs.py would
# shadow the envs package; the repository root goes there instead.
_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)

from benchmarks.report import emit, machine  # noqa: E402

ZOO = {"n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0,
       "learning_rate": 0.001, "clip_range": 0.2}
#: The PPO settings both the amortised agent and the anchor run with (the rollout is ``--rollout``).
PPO = {"epochs": 4, "minibatches": 4, "hidden": 64}


def bench_sb3(total_steps: int, settings: dict) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.manual_seed(0)
    venv = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0, **settings)
    t0 = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    dt = time.perf_counter() - t0
    venv.close()
    return {"env": "CartPole-v1", "num_envs": 8, "settings": settings or "SB3 defaults",
            "env_steps": model.num_timesteps, "seconds": dt, "env_steps_per_second": model.num_timesteps / dt}


def amortised_config(env_id: str, num_envs: int, device: str, rollout: int, bonus: str = "afe",
                     compile: bool = False):
    from experiments.config import Config, build

    return build(Config, {
        "env": {"id": env_id, "num_envs": num_envs, "device": device},
        "world_model": {"hidden": 128, "code_dim": 6, "passes": 3, "batch_size": 256},
        "agent": {"type": "amortised", "intrinsic": {"name": bonus}, "surprise": {"term": "total"},
                  "warmup_steps": 4, "online": {"fit_ratio": 1, "samples_per_transition": 1.0}, "ext_coef": 2.0,
                  "int_coef": 1.0, "ppo": {"rollout": rollout, "compile": compile, **PPO}},
    })


def bench_amortised(env_id: str, num_envs: int, total_steps: int, device: str, rollout: int,
                    bonus: str = "afe", compile: bool = False) -> dict:
    """Env-steps/s of whole rollouts (act, step, observe, update) after one warm-up rollout
    (compilation included there)."""
    from agents.protocol import Step
    from experiments.build import make_agent, make_env

    dev = torch.device(device)
    cfg = amortised_config(env_id, num_envs, device, rollout, bonus, compile)
    torch.manual_seed(0)
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, torch.Generator(device=dev).manual_seed(0))
    obs = env.reset(seed=0)

    def step(o: torch.Tensor) -> torch.Tensor:
        a = agent.act(o)
        nxt, rew, term, trunc, info = env.step(a)
        agent.observe(Step(o, a, info["final_obs"], term | trunc, rew, info["final_map_xy"]))
        agent.update()
        return nxt

    for _ in range(cfg.agent.warmup_steps + rollout):  # warm-up and one whole rollout (kernels, allocations)
        obs = step(obs)
    steps = max(total_steps // num_envs // rollout, 1) * rollout
    world = agent.world
    rows0, fits0 = (world.rows_fitted, world.fit_steps) if world is not None else (0, 0)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        obs = step(obs)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    env.close()
    done = steps * num_envs
    row = {"agent": "amortised", "env": env_id, "num_envs": num_envs, "device": device, "bonus": bonus,
           "compile": compile, "rollout": rollout, "env_steps": done, "seconds": dt,
           "env_steps_per_second": done / dt}
    if world is not None:
        row.update(world_model_steps=world.fit_steps - fits0, world_model_batch=world.last_batch,
                   samples_per_transition=(world.rows_fitted - rows0) / done)
    return row


def bench_anchor(envs: list[int], steps: int, device: str, rollout: int, timeout: float,
                 threads: int = 0, cache: str = "") -> tuple[list, str]:
    """The anchor's rows from its own process (JAX and torch never share a GPU's memory); or why none.

    ``threads``: CPU cores the anchor may use (torch's ``--threads`` beside it; 0: all); ``cache``: a
    folder where JAX keeps its compiled programs between turns (compilation is timed apart anyway).
    """
    cmd = [sys.executable, str(_ROOT / "benchmarks" / "anchor_jax_ppo.py"), "--device", device, "--steps",
           str(steps), "--rollout", str(rollout), "--threads", str(threads), "--repeats", "1",
           "--envs", *map(str, envs), *(f"--{k}={v}" for k, v in PPO.items())]
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
           **({"JAX_COMPILATION_CACHE_DIR": cache} if cache else {})}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=_ROOT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return [], f"the anchor took longer than {timeout:.0f} s"
    if proc.returncode != 0:
        return [], "the anchor failed: " + (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
    results = json.loads(proc.stdout)["results"]
    return results["anchor"], results.get("note", "")


def turns(args: argparse.Namespace, device: str, n: int, cache: str) -> tuple[list[dict], str]:
    """``--repeats`` turns at ``n`` copies on ``device``: the anchor, then every amortised row, each
    amortised run with its ratio to the anchor of its own turn; the runs, and the anchor's note."""
    runs: list[dict] = []
    note = ""
    for _ in range(args.repeats):
        anchor, note = ([], "left out (--no-anchor)") if args.no_anchor else bench_anchor(
            [n], args.anchor_steps or 8 * args.steps, device, args.rollout, args.anchor_timeout, args.threads, cache)
        ref = anchor[0]["env_steps_per_second"] if anchor else None
        runs += anchor
        for bonus in args.bonus:
            for compiled in args.compile:
                row = bench_amortised(args.env, n, args.steps, device, args.rollout, bonus, compiled)
                row["ratio_to_anchor"] = row["env_steps_per_second"] / ref if ref else None
                runs.append(row)
    return runs, note


def summarise(runs: list[dict], sb3_ref: float) -> list[dict]:
    """One row per agent, copies, device, bonus and compile: the median run's figures, every run's
    rate (``runs``) and their range (``spread``); for the amortised agent the median ratio to the
    anchor of the same turn (``ratio_runs``, ``ratio_spread``) and ``ratio_to_sb3``."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["agent"], r["num_envs"], r["device"], r["bonus"], r.get("compile")), []).append(r)
    rows = []
    for group in groups.values():
        rates = [r["env_steps_per_second"] for r in group]
        row = dict(sorted(group, key=lambda r: r["env_steps_per_second"])[len(group) // 2])  # the median run
        row.update(env_steps_per_second=statistics.median(rates), runs=rates, spread=[min(rates), max(rates)])
        if row["agent"] == "amortised":
            ratios = [r["ratio_to_anchor"] for r in group if r["ratio_to_anchor"] is not None]
            row.update(ratio_to_anchor=statistics.median(ratios) if ratios else None, ratio_runs=ratios,
                       ratio_spread=[min(ratios), max(ratios)] if ratios else None,
                       ratio_to_sb3=row["env_steps_per_second"] / sb3_ref if sb3_ref else None)
        rows.append(row)
    return rows


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", nargs="+", default=["auto"], choices=("auto", "cpu", "cuda"),
                   help="devices of the amortised agent and the anchor (auto: the CPU, and CUDA when there is one)")
    p.add_argument("--envs", type=int, nargs="+", default=[64, 256, 1024, 4096], help="copies on the CPU")
    p.add_argument("--cuda-envs", type=int, nargs="+", default=[1024, 8192, 32768, 131072], help="copies on CUDA")
    p.add_argument("--bonus", nargs="+", default=["none", "afe"], choices=("none", "afe", "fe", "rnd"),
                   help="the amortised agent's agent.intrinsic.name (its bonus), one row each")
    p.add_argument("--compile", nargs="+", default=None, choices=("off", "on"),
                   help="agent.ppo.compile of the amortised rows, one row each (default: off on; --quick: off)")
    p.add_argument("--repeats", type=int, default=3, help="turns (anchor, then every amortised row) per copies")
    p.add_argument("--steps", type=int, default=65536, help="timed env steps per amortised run (all copies)")
    p.add_argument("--anchor-steps", type=int, default=0, help="env steps per anchor row (0: 8 x --steps; at "
                                                                "least 2 rollouts and updates)")
    p.add_argument("--no-anchor", action="store_true", help="leave the JAX anchor out")
    p.add_argument("--anchor-timeout", type=float, default=1800, help="seconds each anchor process may take")
    p.add_argument("--sb3-steps", type=int, default=32768, help="env steps of each SB3 run (0: no SB3 rows)")
    p.add_argument("--sb3-settings", default="both", choices=("both", "default", "zoo"),
                   help="SB3 PPO settings run: SB3's defaults, the RL Zoo's CartPole ones, or both")
    p.add_argument("--rollout", type=int, default=32, help="rollout length T of the amortised agent and the anchor")
    p.add_argument("--env", default="freeenergy/CartPole-v1", help="the batched twin the amortised agent runs on")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--quick", action="store_true", help="a tiny run of every part (does it work), not a figure")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args()
    cuda = torch.cuda.is_available()
    if "cuda" in args.device and not cuda:
        print("throughput.py: --device cuda is invalid here: no CUDA device; expected cpu or auto", file=sys.stderr)
        raise SystemExit(2)
    args.device = list(dict.fromkeys(d for name in args.device
                                     for d in (["cpu", *(["cuda"] if cuda else [])] if name == "auto" else [name])))
    if args.quick:
        args.envs, args.cuda_envs, args.steps, args.rollout, args.repeats = [16], [64], 64, 4, 1
        args.sb3_steps, args.sb3_settings, args.anchor_steps = 64, "zoo", 128
    chosen = args.compile or (["off"] if args.quick else ["off", "on"])
    args.compile = [c == "on" for c in dict.fromkeys(chosen)]
    return args


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = {"both": [{}, ZOO], "default": [{}], "zoo": [ZOO]}[args.sb3_settings]
    sb3 = [bench_sb3(args.sb3_steps, s) for s in chosen] if args.sb3_steps else []
    ref = max((r["env_steps_per_second"] for r in sb3), default=0.0)
    runs, notes = [], []
    with tempfile.TemporaryDirectory() as cache:
        for device in args.device:
            for n in args.cuda_envs if device == "cuda" else args.envs:
                got, note = turns(args, device, n, cache)
                runs += got
                notes += [f"{device}: {note}"] if note and f"{device}: {note}" not in notes else []
    rows = summarise(runs, ref)
    rows.sort(key=lambda r: (r["agent"] != "anchor_jax_ppo", r["device"], r["num_envs"]))
    out = {
        "benchmark": "throughput",
        "figure": "env-steps/s of the amortised agent (bonus none: PPO alone; afe: world-model learning included, "
                  "each transition trained on at least once on average), eager and compiled, on the batched "
                  "CartPole twin, beside PPO compiled whole in JAX on gymnax CartPole-v1 (the anchor) and "
                  "stable-baselines3 PPO on Gymnasium CartPole-v1 with 8 envs; measured in turns",
        "unit": "env-steps/s, the median of --repeats turns (runs: each turn's, spread: their range); "
                "ratio_to_anchor = amortised / anchor of the same turn at the same copies and device, the median "
                "over turns (ratio_runs, ratio_spread); ratio_to_sb3 = amortised / fastest SB3 setting; "
                "samples_per_transition = world-model rows trained on per transition stored",
        "settings": {**vars(args), "ppo": {"rollout": args.rollout, **PPO}},
        "machine": machine(),
        "results": {"rows": rows, "sb3": sb3, "sb3_reference_steps_per_second": ref,
                    **({"anchor_note": "; ".join(notes)} if notes else {})},
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
