"""Agent throughput: batched planning, and the SB3 surprise bonus's cost.

Prints one JSON object:

- ``planning``: for N envs x C candidates x H imagined steps (default 64 x 256 x 8)
  on each device, planned actions/s (N per ``plan`` call) and imagined
  transitions/s (N * C * H per call), with the RAE world model;
- ``sb3``: stable-baselines3 PPO env-steps/s on the GridMaze twin with the
  adversarial surprise bonus (world model learning online) and without, and
  their ratio (the bonus's cost is ``1 - ratio``);
- ``machine``: what it ran on.

    python benchmarks/agents.py [--device cpu|cuda|all] [--envs 64] [--candidates 256] [--horizon 8]
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


def bench_planning(device: str, n: int, c: int, h: int, repeats: int) -> dict:
    import envs
    from agents.adversarial import AdversarialFreeEnergyAgent
    from agents.encoding import TransitionEncoder
    from agents.online import OnlineWorldModel
    from agents.planner import Planner
    from agents.protocol import Step
    from freeenergy.rae import RAE

    dev = torch.device(device)
    torch.manual_seed(0)
    g = torch.Generator(device=dev).manual_seed(0)
    env = envs.make("freeenergy/MultiRoom-v0", n, dev)
    enc = TransitionEncoder(env.obs_dim, env.single_action_space, dev)
    world = OnlineWorldModel(encoder=enc, members=[RAE(enc.dim, device=dev)], replay_capacity=10_000,
                             batch_size=128, device=dev, generator=g)
    planner = Planner(codec=enc.actions, horizon=h, candidates=c, repeat_prob=0.8, device=dev, generator=g)
    agent = AdversarialFreeEnergyAgent(world=world, planner=planner, warmup_steps=0, generator=g)
    obs = env.reset(seed=0)
    for _ in range(3):  # fill replay, warm up kernels
        a = agent.act(obs) if len(world.replay) else env.sample_actions()
        nxt, _, term, trunc, info = env.step(a)
        agent.observe(Step(obs, a, info["final_obs"], term | trunc, torch.zeros(n)))
        agent.update()
        obs = nxt

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        agent.act(obs)
    sync()
    dt = (time.perf_counter() - t0) / repeats
    return {"device": device, "envs": n, "candidates": c, "horizon": h, "seconds_per_plan": dt,
            "planned_actions_per_second": n / dt, "imagined_transitions_per_second": n * c * h / dt}


def bench_sb3(total_steps: int, num_envs: int, fit_every: int) -> dict:
    from stable_baselines3 import PPO

    import envs
    from agents.bonus import BonusTransform, SurpriseBonusVecEnv
    from agents.encoding import TransitionEncoder
    from agents.intrinsic.surprise import WorldModelSurprise
    from agents.online import OnlineWorldModel
    from agents.sb3_env import BatchedVecEnv
    from freeenergy.rae import RAE

    def run(bonus: bool) -> float:
        torch.manual_seed(0)
        env = envs.make("freeenergy/MultiRoom-v0", num_envs, "cpu")
        venv = BatchedVecEnv(env, seed=0)
        if bonus:
            enc = TransitionEncoder(env.obs_dim, env.single_action_space)
            world = OnlineWorldModel(encoder=enc, members=[RAE(enc.dim)], replay_capacity=50_000, batch_size=128)
            source = WorldModelSurprise(world=world)
            venv = SurpriseBonusVecEnv(venv, BonusTransform(source, 1.0, fit_ratio=1, fit_every=fit_every))
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=512, n_epochs=4, seed=0, device="cpu", verbose=0)
        t0 = time.perf_counter()
        model.learn(total_timesteps=total_steps)
        return total_steps / (time.perf_counter() - t0)

    plain, with_bonus = run(False), run(True)
    return {"env": "freeenergy/MultiRoom-v0", "num_envs": num_envs, "total_steps": total_steps,
            "bonus": "RAE free energy (1 noise draw), one world-model step (batch 128) every "
                     f"{fit_every} vec step(s)",
            "ppo_steps_per_second": plain, "ppo_bonus_steps_per_second": with_bonus,
            "ratio": with_bonus / plain, "bonus_cost": 1 - with_bonus / plain}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="all", help="cpu, cuda or all (cpu plus cuda when present)")
    p.add_argument("--envs", type=int, default=64)
    p.add_argument("--candidates", type=int, default=256)
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sb3-steps", type=int, default=65536)
    p.add_argument("--sb3-envs", type=int, default=256)
    p.add_argument("--sb3-fit-every", type=int, default=4, help="world-model step every k vec steps")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    out = {
        "benchmark": "agents",
        "figure": "planned actions/s and imagined transitions/s; SB3 PPO steps/s with the surprise bonus vs plain PPO",
        "unit": "actions/s, transitions/s, env-steps/s; ratio = bonus / plain",
        "planning": [bench_planning(d, args.envs, args.candidates, args.horizon, args.repeats) for d in devices],
        "sb3": bench_sb3(args.sb3_steps, args.sb3_envs, args.sb3_fit_every) if args.sb3_steps > 0 else None,
        "machine": machine(),
    }
    emit(out, args.out)


if __name__ == "__main__":
    main()
