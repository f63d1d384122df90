"""Throughput: stable-baselines3 PPO vs the amortised agent, env-steps/s, in one run.

Side by side on the same machine:

- ``sb3``: stable-baselines3 PPO on Gymnasium's ``CartPole-v1`` with 8 envs
  (``make_vec_env``), with SB3's default PPO settings and with the RL Zoo's tuned
  CartPole settings (n_steps 32, batch 256, 20 epochs); the faster one is the
  reference;
- ``amortised``: the amortised agent (``agent.type: amortised``, PPO with two
  value heads) on the batched CartPole twin (``freeenergy/CartPole-v1``) with the
  adversarial free-energy bonus, so world-model learning is included (the RAE
  scores every transition and fits on replay, one step per env step and batch of
  copies), at several ``num_envs``;
- ``ratio``: each amortised figure over the SB3 reference (the goal: >= 5).

    python benchmarks/throughput.py [--device cpu|cuda] [--envs 8 64 256 1024]
        [--steps 65536] [--sb3-steps 32768] [--out PATH]
"""
from __future__ import annotations

import argparse
import sys
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


def amortised_config(env_id: str, num_envs: int, device: str, rollout: int):
    from experiments.config import Config, build

    return build(Config, {
        "env": {"id": env_id, "num_envs": num_envs, "device": device},
        "world_model": {"hidden": 128, "code_dim": 6, "passes": 3, "batch_size": 256},
        "agent": {"type": "amortised", "intrinsic": {"name": "afe"}, "surprise": {"term": "total"},
                  "warmup_steps": 4, "online": {"fit_ratio": 1}, "ext_coef": 2.0, "int_coef": 1.0,
                  "ppo": {"rollout": rollout, "epochs": 4, "minibatches": 4, "hidden": 64}},
    })


def bench_amortised(env_id: str, num_envs: int, total_steps: int, device: str, rollout: int) -> dict:
    from agents.protocol import Step
    from experiments.kinds.agent import make_agent, make_env

    dev = torch.device(device)
    cfg = amortised_config(env_id, num_envs, device, rollout)
    torch.manual_seed(0)
    gen = torch.Generator(device=dev).manual_seed(0)
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, gen)
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
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        obs = step(obs)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    env.close()
    return {"env": env_id, "num_envs": num_envs, "device": device, "rollout": rollout,
            "env_steps": steps * num_envs, "seconds": dt, "env_steps_per_second": steps * num_envs / dt,
            "world_model_steps": agent.world.fit_steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (the amortised agent's device)")
    p.add_argument("--envs", type=int, nargs="+", default=[8, 64, 256, 1024])
    p.add_argument("--steps", type=int, default=65536, help="timed env steps per amortised run (all copies)")
    p.add_argument("--sb3-steps", type=int, default=32768, help="env steps of each SB3 run")
    p.add_argument("--sb3-settings", default="both", choices=("both", "default", "zoo"),
                   help="SB3 PPO settings run: SB3's defaults, the RL Zoo's CartPole ones, or both")
    p.add_argument("--rollout", type=int, default=32, help="amortised rollout length T")
    p.add_argument("--env", default="freeenergy/CartPole-v1", help="the batched twin the amortised agent runs on")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device={args.device!r} is invalid here: no CUDA device; expected cpu")
    chosen = {"both": [{}, ZOO], "default": [{}], "zoo": [ZOO]}[args.sb3_settings]
    sb3 = [bench_sb3(args.sb3_steps, s) for s in chosen]
    ref = max(r["env_steps_per_second"] for r in sb3)
    amortised = [bench_amortised(args.env, n, args.steps, args.device, args.rollout) for n in args.envs]
    for r in amortised:
        r["ratio_to_sb3"] = r["env_steps_per_second"] / ref
    out = {
        "benchmark": "throughput",
        "figure": "env-steps/s of the amortised agent (world-model learning included) on the batched CartPole "
                  "twin vs stable-baselines3 PPO on Gymnasium CartPole-v1 with 8 envs, and their ratio",
        "unit": "env-steps/s; ratio = amortised / fastest SB3 setting",
        "settings": vars(args),
        "machine": machine(),
        "results": {"sb3": sb3, "sb3_reference_steps_per_second": ref, "amortised": amortised,
                    "best_ratio": max(r["ratio_to_sb3"] for r in amortised)},
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
