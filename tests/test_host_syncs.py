"""The amortised agent's run loop reads nothing back from the device between logging intervals.

On a GPU every ``.item()``, ``float(tensor)``, ``bool(tensor)`` (``if tensor.any()``),
``.tolist()``, ``.cpu()`` or ``.numpy()`` makes the host wait for the device, and so do the
ops whose output size depends on the data (``bincount``, ``nonzero``, ``unique``,
``masked_select``, indexing with a boolean mask); once per env step it is fatal to
throughput. On the CPU nothing waits, so these tests count the calls themselves: the loop
(``experiments.driver.run_agent``: policy, twin step, world-model scoring and fitting,
replay, PPO, tracker) runs with those methods patched, and every read that the project's
own code makes must happen while the driver logs an interval, draws, checkpoints or
finishes. (Reads inside torch, e.g. Adam's step counter, a CPU tensor on every device,
are torch's business.)
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from experiments.config import Config, build
from experiments.context import MemoryContext
from experiments.driver import RunDriver, run_agent
from experiments.kinds.agent import make_agent, make_env

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(str(ROOT / p) for p in ("agents", "envs", "experiments", "freeenergy"))
READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__", "nonzero", "unique",
         "masked_select", "bincount")
SIZED = ("bincount", "nonzero", "unique", "masked_select")  # also torch.<name>
#: Driver methods that may read back: they run once per logging interval, map or checkpoint.
ALLOWED = ("_log_interval", "draw", "state", "finish", "begin", "resume")


@contextmanager
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Patch the host reads of ``torch.Tensor``; yields the list of ``file:line (method)`` of every
    read the project's code made outside the driver's allowed methods."""
    bad: list[str] = []
    depth = {"allowed": 0}

    def counting(name: str, real, up: int = 1):
        def read(self, *args, **kwargs):
            caller = sys._getframe(up)
            if depth["allowed"] == 0 and caller.f_code.co_filename.startswith(PACKAGES):
                bad.append(f"{Path(caller.f_code.co_filename).relative_to(ROOT)}:{caller.f_lineno} ({name})")
            return real(self, *args, **kwargs)
        return read

    def allowing(real):
        def method(*args, **kwargs):
            depth["allowed"] += 1
            try:
                return real(*args, **kwargs)
            finally:
                depth["allowed"] -= 1
        return method

    for name in ALLOWED:
        monkeypatch.setattr(RunDriver, name, allowing(getattr(RunDriver, name)))
    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    for name in SIZED:
        monkeypatch.setattr(torch, name, counting(f"torch.{name}", getattr(torch, name)))
    for name in ("__getitem__", "__setitem__"):  # x[mask] and x[mask] = v: a nonzero inside
        real = getattr(torch.Tensor, name)
        masked = counting(f"{name} with a boolean mask", real, up=2)

        def index(self, idx, *args, _real=real, _masked=masked):
            keys = idx if isinstance(idx, tuple) else (idx,)
            if any(isinstance(k, torch.Tensor) and k.dtype == torch.bool for k in keys):
                return _masked(self, idx, *args)
            return _real(self, idx, *args)
        monkeypatch.setattr(torch.Tensor, name, index)
    yield bad


CASES = {
    "cartpole-afe": ({"id": "freeenergy/CartPole-v1", "num_envs": 16}, {"name": "afe"}),
    "cartpole-none": ({"id": "freeenergy/CartPole-v1", "num_envs": 16}, {"name": "none"}),
    "fourrooms-rnd": ({"id": "freeenergy/FourRooms-v0", "num_envs": 8}, {"name": "rnd"}),
    "fourrooms-count": ({"id": "freeenergy/FourRooms-v0", "num_envs": 8}, {"name": "count"}),
    "noisytv-afe": ({"id": "freeenergy/NoisyTV-v0", "num_envs": 8}, {"name": "afe"}),  # env metrics
    "deepsea-afe": ({"id": "freeenergy/DeepSea-v0", "num_envs": 8}, {"name": "afe"}),  # success, counters
    "darkroom-fe": ({"id": "freeenergy/DarkRoom-v0", "num_envs": 8}, {"name": "fe"}),  # late metrics
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_amortised_loop_reads_back_only_at_logging_intervals(case, monkeypatch):
    env_section, intrinsic = CASES[case]
    cfg = build(Config, {"env": env_section, "world_model": {"hidden": 16, "code_dim": 4, "batch_size": 32},
                         "agent": {"type": "amortised", "intrinsic": intrinsic, "warmup_steps": 3,
                                   "ext_coef": 1.0, "ppo": {"rollout": 4, "hidden": 16, "minibatches": 2}}})
    dev = torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, gen)
    ctx = MemoryContext.for_steps(31, interval=10)  # intervals fall mid-rollout: reads there are allowed
    with counted_reads(monkeypatch) as bad:
        summary = run_agent(env, agent, ctx=ctx, generator=gen)
    assert not bad, f"host reads inside the step loop: {sorted(set(bad))}"
    assert [r["step"] for r in ctx.rows] == [10, 20, 30, 31] and summary["env_steps"] == 31 * env.num_envs
    assert "ppo/entropy" in ctx.rows[-1]  # the metrics were read back at the interval


def test_the_counter_catches_a_read(monkeypatch):
    """A read inside the project's code between intervals is caught (the test can fail)."""
    from agents.amortised import AmortisedAgent
    from envs.base import _as_index

    real = AmortisedAgent.observe

    def observe(self, step):
        _as_index(torch.tensor([0]), 1, torch.device("cpu"))  # checks its indices: int(idx.min())
        return real(self, step)

    monkeypatch.setattr(AmortisedAgent, "observe", observe)
    env_section, intrinsic = CASES["cartpole-none"]
    cfg = build(Config, {"env": env_section, "agent": {"type": "amortised", "intrinsic": intrinsic,
                                                       "warmup_steps": 1, "ppo": {"rollout": 2, "hidden": 8}}})
    dev = torch.device("cpu")
    env = make_env(cfg, dev)
    agent = make_agent(cfg, env, dev, torch.Generator().manual_seed(0))
    with counted_reads(monkeypatch) as bad:
        run_agent(env, agent, ctx=MemoryContext.for_steps(4, interval=4))
    assert bad and all(b.startswith("envs/base.py") for b in bad), bad
