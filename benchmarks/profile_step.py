"""Where the amortised agent's time goes: wall time per part of its loop, per env step of all copies.

The agent of ``throughput.py`` (CartPole twin, bonus ``none`` or ``afe``) runs whole
rollouts while each part of the loop is timed on its own (the device is
synchronised around each part, so that its time is its own; the total is then a
little slower than ``throughput.py``'s):

- ``act``: the policy forward and the action draw (``AmortisedAgent.act``);
- ``env_step``: the twin's step;
- ``observe``: recording the step, and at a rollout's end scoring it (world model);
- ``ppo_update``: PPO's epochs of minibatch steps (``PPOLearner.update``);
- ``world_model_fit``: the intrinsic source's learning (``source.learn``);
- ``update_other``: the rest of ``update`` (bonus normalisation, statistics);
- ``driver``: the run loop's bookkeeping (tracker, the agent hook), measured by
  running the same rollouts through ``experiments.driver.run_agent``'s pieces.

    python benchmarks/profile_step.py [--envs 1024] [--bonus none afe] [--rollouts 8] [--compile]
        [--device cpu] [--out PATH]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)  # benchmarks/envs.py would shadow the envs package

from benchmarks.report import emit, machine  # noqa: E402


class Clock:
    """Seconds spent per named part (device synchronised at both ends of each)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.seconds[name] += time.perf_counter() - t0
            return out
        return timed


def profile(num_envs: int, bonus: str, rollouts: int, device: str, rollout: int, compile_: bool) -> dict:
    """Time each part over ``rollouts`` rollouts after a warm-up one; seconds per env step of all copies."""
    from agents.protocol import Step
    from benchmarks.throughput import amortised_config
    from experiments.build import make_agent, make_env
    from experiments.context import MemoryContext
    from experiments.driver import AgentHook
    from experiments.tracker import Tracker

    dev = torch.device(device)
    extra = {"compile": True} if compile_ else {}
    cfg = amortised_config("freeenergy/CartPole-v1", num_envs, device, rollout, bonus, **extra)
    torch.manual_seed(0)
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, torch.Generator(device=dev).manual_seed(0))
    clock = Clock(dev)
    steps = rollout * rollouts
    ctx = MemoryContext.for_steps(steps, seed=0, device=dev, interval=rollout)
    tracker, hook = Tracker(env, steps), AgentHook(agent)
    obs = env.reset(seed=0)
    tracker.start(env.last_info)

    def one(o: torch.Tensor, t: int) -> torch.Tensor:
        a = act(o)
        nxt, rew, term, trunc, info = env_step(a)
        observe(Step(o, a, info["final_obs"], term | trunc, rew, info["final_map_xy"]))
        driver(t, rew, term, info)
        return nxt

    def driver_part(t: int, rew: torch.Tensor, term: torch.Tensor, info: dict) -> None:
        hook.update(t + 1)  # the agent's update is timed by its own parts below
        tracker.step(t, rew, term, info, None)
        if (t + 1) % rollout == 0:
            ctx.log({**tracker.interval_metrics(t + 1), **hook.interval_metrics()}, t + 1)

    act, env_step, observe = agent.act, env.step, agent.observe
    driver = driver_part
    for t in range(cfg.agent.warmup_steps + rollout):  # warm-up, one whole rollout (and compilation)
        obs = one(obs, t)
    act, env_step = clock.wrap("act", agent.act), clock.wrap("env_step", env.step)
    observe, driver = clock.wrap("observe", agent.observe), clock.wrap("driver", driver_part)
    agent.update = clock.wrap("update", agent.update)  # type: ignore[method-assign]
    agent.learner.update = clock.wrap("ppo_update", agent.learner.update)  # type: ignore[method-assign]
    agent.source.learn = clock.wrap("world_model_fit", agent.source.learn)  # type: ignore[method-assign]
    clock.sync()
    t0 = time.perf_counter()
    for t in range(steps):
        obs = one(obs, t)
    clock.sync()
    total = time.perf_counter() - t0
    parts = dict(clock.seconds)
    parts["driver"] -= parts["update"]  # the agent's update ran inside the hook
    parts["update_other"] = parts.pop("update") - parts["ppo_update"] - parts.get("world_model_fit", 0.0)
    parts["loop_other"] = total - sum(parts.values())
    env.close()
    per_step = {k: v / steps * 1e6 for k, v in parts.items()}
    return {"num_envs": num_envs, "bonus": bonus, "device": device, "compile": compile_, "rollout": rollout,
            "env_steps": steps * num_envs, "seconds": total, "env_steps_per_second": steps * num_envs / total,
            "microseconds_per_step": per_step,
            "share": {k: v / total for k, v in parts.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", type=int, nargs="+", default=[1024])
    p.add_argument("--bonus", nargs="+", default=["none", "afe"])
    p.add_argument("--rollouts", type=int, default=8)
    p.add_argument("--rollout", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true", help="agent.ppo.compile: true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [profile(n, b, args.rollouts, args.device, args.rollout, args.compile)
            for n in args.envs for b in args.bonus]
    emit({"benchmark": "profile_step", "figure": "wall time per part of the amortised agent's loop",
          "unit": "microseconds per env step of all copies; share of the loop's wall time",
          "settings": vars(args), "machine": machine(), "results": {"rows": rows}}, args.out)


if __name__ == "__main__":
    main()
