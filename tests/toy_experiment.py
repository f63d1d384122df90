"""A tiny experiment kind for runner, logging and reliability tests.

It does what a real experiment does (progress bar, namespaced scalars, maps,
checkpoints, resume, NaN guard) in a fraction of a second. Behaviour knobs
come from environment variables so a subprocess can be steered:
``TOY_SLEEP`` (seconds per step), ``TOY_NAN_AT`` (step whose loss is NaN),
``TOY_INTERRUPT_AT`` (step at which Ctrl-C arrives).

``python tests/toy_experiment.py ARGS...`` runs the ``freeenergy`` CLI with
the kind ``toy`` registered (``run.kind`` stays a valid kind: ``agent``).
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.io import maps  # noqa: E402
from experiments.kinds import RunKind  # noqa: E402

BOUNDS = ((0.0, 8.0), (0.0, 8.0))
#: The toy as a run kind: one row, as a user's own run kind would be (no env probe).
TOY_KIND = RunKind("toy_experiment:run", "the tests' toy experiment", memory=("agent",))


def run(ctx) -> dict:
    """Random walk of 4 agents on an 8x8 plane; ``loss`` = mean squared position from the centre."""
    steps, interval = ctx.cfg.run.steps, ctx.cfg.logging.interval
    sleep = float(os.environ.get("TOY_SLEEP", "0"))
    nan_at = int(os.environ.get("TOY_NAN_AT", "-1"))
    interrupt_at = int(os.environ.get("TOY_INTERRUPT_AT", "-1"))
    state = ctx.load_checkpoint() or {"step": -1, "pos": torch.full((4, 2), 4.0), "counts": torch.zeros(8, 8)}
    pos, counts, done = state["pos"].clone(), state["counts"].clone(), int(state["step"])
    walls = np.zeros((8, 8), bool)
    walls[0, :] = True
    bar = ctx.progress(steps, "toy", initial=done + 1)
    try:
        for t in range(done + 1, steps):
            if t == interrupt_at:
                raise KeyboardInterrupt
            pos = (pos + torch.randn(4, 2) * 0.7).clamp(0.0, 7.999)
            cells = pos.long()
            counts[cells[:, 1], cells[:, 0]] += 1
            loss = float(((pos - 4.0) ** 2).mean())
            if t == nan_at:
                loss = math.nan
            if not math.isfinite(loss):
                raise FloatingPointError(f"world-model loss became {loss} at step {t}; "
                                         f"last good checkpoint kept at {ctx.checkpoint_path}")
            if t % interval == 0:
                ctx.log({"world_model/loss": loss, "explore/coverage": float((counts > 0).float().mean())}, t)
            if t % ctx.cfg.logging.map_interval == 0:
                fig = maps.plot_exploration_map(counts.numpy(), BOUNDS, walls=walls, vmax=float(steps),
                                                title=f"step {t}", log=ctx.cfg.logging.map_log_scale)
                ctx.save_figure(fig, "maps/exploration", step=t)
            done = t
            every = ctx.cfg.run.checkpoint_every
            if every and (t + 1) % every == 0:
                ctx.save_checkpoint({"step": t, "pos": pos, "counts": counts})
            bar.update(1)
            if sleep:
                time.sleep(sleep)
    except KeyboardInterrupt:
        ctx.save_checkpoint({"step": done, "pos": pos, "counts": counts})
        raise
    finally:
        bar.close()
    ctx.save_checkpoint({"step": done, "pos": pos, "counts": counts})
    return {"final_loss": loss, "coverage": float((counts > 0).float().mean()),
            "pos": pos.tolist(), "steps": steps}


class TextEnv(gym.Env):
    """A Gymnasium env whose observation space (Text) has no fixed-size vector form."""

    observation_space = gym.spaces.Text(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return "a", {}

    def step(self, action):
        return "a", 0.0, False, False, {}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from experiments import cli, kinds

    kinds.RUN_KINDS["agent"] = TOY_KIND
    sys.exit(cli.main(sys.argv[1:]))
