"""The run driver: one loop skeleton for every agent that explores a batched env.

A run is ``cfg.run.steps`` steps of ``env.num_envs`` copies. Whatever moves
the env (an Agent-contract agent in :func:`run_agent`, or stable-baselines3
through :mod:`experiments.kinds.sb3`), each finished step is handed to
:meth:`RunDriver.record`, and the driver does the rest in one place:

- **step**: the :class:`~experiments.tracker.Tracker` counts visits, the env's
  metrics (``info["metrics"]``), success and free energy;
- **interval metrics** every ``logging.interval`` steps (and at the last step):
  the tracker's figures plus each hook's ``interval_metrics()``, to ``ctx.log``;
- **maps** every ``logging.map_interval`` steps and at the end: the exploration
  map plus each hook's ``draw(ctx, step)``;
- **checkpoint** every ``run.checkpoint_every`` steps and at the end:
  ``{"step", "tracker", "rng", <hook.key>: hook.state_dict(), ...}``;
- **interrupt**: Ctrl-C or SIGTERM (a ``KeyboardInterrupt``) inside
  :meth:`RunDriver.running` writes a checkpoint of the last finished step,
  then lets the interrupt go on (the runner keeps the logs and says how to resume);
- **summary**: ``steps_per_copy`` (``run.steps``: every copy steps once per step;
  maps and logs count these), ``env_steps`` (all copies' steps together),
  ``env_steps_per_second``, the tracker's summary and
  each hook's ``summary(tracker)``.

:func:`run_agent` drives any :class:`agents.protocol.Agent` (``act``,
``observe(Step)``, ``update``, ``interval_metrics``, ``world``, state) and
needs no :class:`RunContext`: without one it keeps its logs in memory
(:class:`~experiments.context.MemoryContext`), which is how tests drive agents.
``update()`` metrics are logged each interval (a bare key under
``world_model/``, a ``ns/key`` as it is; a non-finite ``loss`` stops the run);
the agent's state is checkpointed under ``"agent"``; its ``world`` (an online
world model) is drawn as the latent map, and its ``samples_per_transition``
(rows trained on per transition stored) goes into the summary.

Between two logging intervals the loop reads nothing back from the device (no
``.item()``, ``float(tensor)`` or ``if tensor.any()``): metrics stay tensors until
they are logged, the tracker sums on the device, and the project's twins
autoreset with masks; ``tests/test_host_syncs.py`` counts such reads.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from agents.protocol import Agent, Metrics, Step, host_metrics
from experiments.context import MemoryContext, RunContext
from experiments.env_watch import EnvFault, EnvWatch
from experiments.errors import CheckpointError
from experiments.tracker import Tracker

#: Resumed runs restart the env's episodes from ``seed + RESUME_SEED_STRIDE * step``.
RESUME_SEED_STRIDE = 1_000_003


class RunHook:
    """What a run kind adds to the driver; every method has a no-op default.

    ``key`` names the hook's part of the checkpoint (None: nothing to keep).
    """

    key: str | None = None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def interval_metrics(self) -> dict[str, float]:
        """Extra scalars for this interval's ``ctx.log`` row."""
        return {}

    def draw(self, ctx: RunContext, step: int) -> None:
        """Extra maps at ``step`` (drawing must leave the run's random streams alone)."""

    def summary(self, tracker: Tracker) -> dict[str, Any]:
        """Extra summary keys, given the finished run's tracker."""
        return {}


class RunDriver:
    """Bookkeeping of one run: tracker, progress, logs, maps, checkpoints, interrupt, summary.

    Use: ``start = driver.resume()``; reset the env; ``driver.begin()``; then
    inside ``with driver.running():`` call ``driver.record(...)`` once per step
    until it returns False; finally ``driver.finish()`` gives the summary.

    Args:
        ctx: the run context (config, device, logging, checkpoints).
        env: the BatchedEnv being explored.
        hooks: the run kind's additions (checkpointed state, metrics, maps, summary).
        generator: the run's torch generator, whose state is checkpointed.
        label: progress-bar label.
    """

    def __init__(self, *, ctx: RunContext, env: Any, hooks: Sequence[RunHook], generator: torch.Generator,
                 label: str, tracker: Tracker | None = None) -> None:
        self.ctx, self.env, self.hooks, self.generator, self.label = ctx, env, list(hooks), generator, label
        self.steps = int(ctx.cfg.run.steps)
        self.tracker = tracker if tracker is not None else Tracker(env, self.steps)
        self.watch = EnvWatch(env, f"env.id={ctx.cfg.env.id!r}")  # NaN or out-of-space values blame the env
        self.start = 0
        self.step = 0  # last step whose transition is fully recorded
        self.bar: Any = None
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------ lifecycle
    def resume(self) -> int:
        """Restore a checkpoint handed over by ``freeenergy resume``; returns the step to start from."""
        state = self.ctx.load_checkpoint()
        if state is not None:
            reached = int(state["step"])
            if reached > self.steps:  # env_steps and steps/s would come out negative
                raise CheckpointError(
                    f"run.steps={self.steps} is below the step the checkpoint reached ({reached} per copy); "
                    f"resume needs run.steps >= {reached} in {str(self.ctx.out_dir / 'config.yaml')!r}")
            for hook in self.hooks:
                if hook.key is not None:
                    hook.load_state_dict(state[hook.key])
            self.tracker.load_state_dict(state["tracker"])
            self.generator.set_state(state["rng"]["gen"])
            self.start = self.step = int(state["step"])
        return self.start

    def reset_seed(self) -> int:
        """Seed of the env's reset: the run's seed, moved on by the step reached when resuming."""
        return self.ctx.seed + (RESUME_SEED_STRIDE * self.start if self.start else 0)

    def begin(self) -> None:
        """Call after the env's reset: counts its first cells (fresh runs) and starts the clocks."""
        if self.start == 0:
            self.tracker.start(self.env.last_info)
        self.bar = self.ctx.progress(self.steps, self.label, initial=self.start)  # a resumed bar counts on
        self._t0 = time.perf_counter()
        self.tracker.start_clock(self.start)

    @contextmanager
    def running(self, closing: Any = None) -> Iterator[None]:
        """The stepping part of a run: an interrupt keeps a checkpoint; the bar and ``closing``
        (default: the env) always close."""
        try:
            yield
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was learned, then stop
            if self.step > self.start:
                self.ctx.save_checkpoint(self.state())
            raise
        except Exception as err:  # a diverged loss or a learner's error may come from the env's values
            if not isinstance(err, EnvFault):
                self.watch.check(cause=err)
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
            (self.env if closing is None else closing).close()

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    # ------------------------------------------------------------ each step
    def record(self, reward: torch.Tensor, terminated: torch.Tensor, info: dict[str, Any],
               fe: torch.Tensor | None, truncated: torch.Tensor | None = None) -> bool:
        """Record the step just taken; log, draw and checkpoint when due. False once the run is done.

        ``truncated`` ``(N,)``: episodes cut by a time limit (with ``terminated``, where episodes end).
        """
        self.watch.see(self.step, info.get("final_obs"), reward)
        self.tracker.step(self.step, reward, terminated, info, fe, truncated=truncated)
        self.step += 1
        step, cfg = self.step, self.ctx.cfg
        if self.bar is not None:
            self.bar.update(1)
        if step % cfg.logging.interval == 0 or step == self.steps:
            self._log_interval(step)
        if step % cfg.logging.map_interval == 0 and step != self.steps:
            self.draw(step)
        if cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0 and step != self.steps:
            self.ctx.save_checkpoint(self.state())
        return not self.done

    def _log_interval(self, step: int) -> None:
        self.watch.check()
        metrics = self.tracker.interval_metrics(step)
        for hook in self.hooks:
            metrics.update(hook.interval_metrics())
        self.ctx.log(metrics, step)
        if self.bar is not None:
            post = {"sps": f"{metrics['env/steps_per_second']:.0f}"}
            if math.isfinite(self.tracker.last_fe):
                post["F"] = f"{self.tracker.last_fe:.3g}"
            from experiments.io.maps import percent

            post["cov"] = percent(self.tracker.vis.coverage)
            self.bar.set_postfix(post)

    def draw(self, step: int) -> None:
        self.tracker.draw(self.ctx, step)
        for hook in self.hooks:
            hook.draw(self.ctx, step)

    def state(self) -> dict:
        """The checkpoint of the last finished step."""
        # The global torch / numpy / python RNG states are saved and restored by the runner.
        out = {"step": self.step, "tracker": self.tracker.state_dict(), "rng": {"gen": self.generator.get_state()}}
        for hook in self.hooks:
            if hook.key is not None:
                out[hook.key] = hook.state_dict()
        return out

    # ------------------------------------------------------------ the end
    def finish(self) -> dict[str, Any]:
        """Last maps, last checkpoint, visit counts; the run's summary."""
        elapsed = time.perf_counter() - self._t0
        self.watch.check()
        self.draw(self.steps)
        self.ctx.save_checkpoint(self.state())
        self.ctx.save_array("visits", self.tracker.vis.heatmap().numpy())
        n = self.env.num_envs
        out: dict[str, Any] = {"steps_per_copy": self.steps, "env_steps": self.steps * n,
                               "env_steps_per_second": (self.steps - self.start) * n / max(elapsed, 1e-9),
                               **self.tracker.summary()}
        for hook in self.hooks:
            out.update(hook.summary(self.tracker))
        return out


# ------------------------------------------------------------------ Agent-contract agents
class AgentHook(RunHook):
    """An :class:`Agent` as seen by the driver: state, update metrics, maps."""

    key = "agent"

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.metrics: Metrics = {}
        self.step = 0

    def state_dict(self) -> dict:
        self._host()  # a diverged loss stops the run before it overwrites a good checkpoint
        return self.agent.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state)

    def update(self, step: int) -> None:
        """``agent.update()``; keeps its latest non-empty metrics, stops on a non-finite loss.

        A float loss is checked at once; a tensor one (left on the device, so that the step
        loop never waits for it) when it is read: at the next log or checkpoint.
        """
        try:
            self.metrics = self.agent.update() or self.metrics
        except FloatingPointError as err:
            raise FloatingPointError(f"world_model/loss became nan at step {step} ({err})") from err
        self.step = step
        loss = self.metrics.get("loss", self.metrics.get("world_model/loss"))
        if isinstance(loss, float) and not math.isfinite(loss):
            raise FloatingPointError(f"world_model/loss became {loss} at step {step}")

    def _host(self) -> dict[str, float]:
        """The latest metrics as floats (one read-back); a non-finite loss stops the run."""
        out = host_metrics(self.metrics)
        loss = out.get("loss", out.get("world_model/loss"))
        if loss is not None and not math.isfinite(loss):
            raise FloatingPointError(f"world_model/loss became {loss} at step {self.step} or before")
        return out

    def interval_metrics(self) -> dict[str, float]:
        out = {k if "/" in k else f"world_model/{k}": v for k, v in self._host().items()}
        out.update(self.agent.interval_metrics())
        return out

    def summary(self, tracker: Tracker) -> dict[str, Any]:
        """``samples_per_transition``: rows the world model trained on per transition it stored."""
        world = self.agent.world
        seen = getattr(world, "samples_seen_per_transition", None)
        return {} if seen is None else {"samples_per_transition": seen}

    def draw(self, ctx: RunContext, step: int) -> None:
        draw_latent_map(ctx, self.agent, step)


class StepHook(RunHook):
    """A run hook that also acts around each env step (e.g. rare-state biasing)."""

    def before_step(self, env: Any, agent: Any) -> None:
        pass

    def observed(self, step: Step) -> None:
        """The step's transitions, after the agent observed them."""

    def after_step(self, env: Any, agent: Any, fe: torch.Tensor | None, next_obs: torch.Tensor,
                   step: int) -> torch.Tensor:
        """May restart copies; returns the observations the agent acts on next ``(N, obs_dim)``."""
        return next_obs


def run_agent(env: Any, agent: Agent, *, ctx: RunContext | MemoryContext | None = None, steps: int | None = None,
              seed: int = 0, generator: torch.Generator | None = None, hooks: Sequence[StepHook] = (),
              label: str = "agent", tracker: Tracker | None = None) -> dict[str, Any]:
    """Run ``agent`` in ``env`` for ``steps`` steps per copy (``cfg.run.steps`` of ``ctx``); the summary.

    Without ``ctx`` the run keeps its logs in memory (``steps`` is then required; ``seed`` seeds the
    env's reset). ``hooks`` act around each step (e.g. rare-state biasing); ``tracker``: a Tracker of
    the caller's (e.g. a data-parallel run's); default a fresh one.
    """
    if ctx is None:
        if steps is None:
            raise ValueError("run_agent without a run context needs steps=")
        ctx = MemoryContext.for_steps(steps, seed=seed, device=env.device)
    if generator is None:
        generator = torch.Generator(device=env.device).manual_seed(ctx.seed)
    agent_hook = AgentHook(agent)
    driver = RunDriver(ctx=ctx, env=env, hooks=[agent_hook, *hooks], generator=generator, label=label,
                       tracker=tracker)
    start = driver.resume()
    obs = env.reset(seed=driver.reset_seed())
    driver.begin()
    with driver.running():
        for t in range(start, driver.steps):
            actions = agent.act(obs)
            for hook in hooks:
                hook.before_step(env, agent)
            next_obs, reward, terminated, truncated, info = env.step(actions)
            driver.watch.see(t, info["final_obs"], reward)  # before the agent learns from them
            step = Step(obs, actions, info["final_obs"], terminated | truncated, reward, info.get("final_map_xy"))
            fe = agent.observe(step)
            for hook in hooks:
                hook.observed(step)
            for hook in hooks:
                next_obs = hook.after_step(env, agent, fe, next_obs, t + 1)
            agent_hook.update(t + 1)
            driver.record(reward, terminated, info, fe, truncated=truncated)
            obs = next_obs
    return driver.finish()


@torch.no_grad()
def draw_latent_map(ctx: RunContext, agent: Agent, step: int, rows: int = 1024) -> None:
    """Codes of replayed transitions (2-D PCA) coloured by their free energy.

    Drawn under a forked RNG so that drawing (or not) leaves the run's random
    streams, and so its results, unchanged. Agents without a ``world`` draw nothing.
    """
    world = agent.world
    if world is None or len(world.replay) == 0:
        return
    from experiments.io.maps import plot_latent_map

    devices = [ctx.device] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        gen = torch.Generator(device=world.replay.device)
        gen.manual_seed(step)
        raw, _, _ = world.replay.sample(min(rows, len(world.replay)), gen)
        x = world.encoder.normalise_raw(raw)
        codes, fe = world.model.encode(x), world.model.free_energy(x)
    ctx.save_figure(plot_latent_map(codes, fe, title=f"latent space: step {step:,} per copy"), "latent_map", step)
