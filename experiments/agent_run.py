"""The ``agent`` experiment: an agent explores a batched env while its world model learns.

Planning agents (``fe``, ``afe``) and the random baseline run in one batched
loop here; stable-baselines3 algorithms (``ppo``, ``a2c``, ``dqn``, ``sac``)
learn through :class:`agents.bonus.SurpriseBonusVecEnv` with the bonus named
by ``agent.bonus``. Both report the same summary keys:

``env_steps``, ``env_steps_per_second``, ``coverage``, ``unique_cells``,
``final_free_energy`` (mean free energy of real transitions over the last
logging interval), ``success_rate`` (share of copies that ended an episode by
termination, e.g. reached MountainCar's flag), and where the env reports them
``dark_fraction`` (share of copy-steps with the light off in the second half
of the run) and ``tv_fraction`` (share of copy-steps at the TV).
"""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from agents.adversarial import AdversarialFreeEnergyAgent
from agents.baselines import CountSurprise, RandomAgent, RNDSurprise
from agents.bonus import BonusTransform, SurpriseBonusVecEnv, WorldModelSurprise
from agents.encoding import TransitionEncoder
from agents.explore import Visitation
from agents.free_energy import FreeEnergyAgent
from agents.online import OnlineWorldModel
from agents.planner import Planner
from agents.surprise_head import SurpriseHead
from experiments.config import Config, ConfigError, WorldModelConfig
from experiments.context import RunContext
from freeenergy.models import build_world_model, model_kwargs

SB3_ALGOS = ("ppo", "a2c", "dqn", "sac")


# ------------------------------------------------------------------ factories
def make_env(cfg: Config, device: torch.device) -> Any:
    """The run's BatchedEnv from ``cfg.env``."""
    import envs

    kwargs = dict(cfg.env.kwargs)
    if cfg.env.map_xy is not None:
        kwargs["map_xy"] = list(cfg.env.map_xy) if not isinstance(cfg.env.map_xy, str) else cfg.env.map_xy
    if cfg.env.vector != "sync":
        kwargs["vectorization"] = cfg.env.vector
    return envs.make(cfg.env.id, cfg.env.num_envs, device, **kwargs)


def world_model_kwargs(wm: WorldModelConfig) -> dict[str, Any]:
    """Constructor arguments of ``wm.name`` from the world_model config section."""
    cand: dict[str, Any] = {
        "code_dim": wm.code_dim, "hidden": [wm.hidden] * wm.depth, "passes": wm.passes, "sigma": wm.sigma,
        "lam": wm.code_penalty, "lr": wm.lr, "activation": wm.activation,
        "code_activation": wm.code_activation, "output_activation": wm.output_activation, "prior": wm.prior,
        "chain_steps": wm.chain_steps, "beta": wm.beta, "obs_var": wm.obs_var, "smoothing": wm.smoothing,
        "corruption": wm.chain_corruption if wm.name == "mc_ae" else wm.corruption,
    }
    if wm.sample_steps:
        cand["sample_steps"] = wm.sample_steps
    if wm.complete_steps:
        cand["complete_steps"] = wm.complete_steps
    valid = set(model_kwargs(wm.name))
    return {k: v for k, v in cand.items() if k in valid}


def make_world(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> OnlineWorldModel:
    """Encoder, replay and ``agent.ensemble`` world models for ``env``'s transitions."""
    encoder = TransitionEncoder(env.obs_dim, env.single_action_space, device)
    kw = world_model_kwargs(cfg.world_model)
    members = [build_world_model(cfg.world_model.name, encoder.dim, device, **kw)
               for _ in range(cfg.agent.ensemble)]
    head = (SurpriseHead(encoder.obs_dim + encoder.act_dim, cfg.world_model.hidden, cfg.world_model.lr, device)
            if cfg.agent.surprise_head else None)
    return OnlineWorldModel(encoder, members, cfg.agent.replay_capacity, cfg.world_model.batch_size, device,
                            generator, cfg.agent.recent_fraction, cfg.agent.recent_window, head,
                            cfg.agent.head_discount, head_maximise=cfg.agent.type == "afe")


def make_agent(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> Any:
    """A planning agent (fe, afe) or the random baseline."""
    a = cfg.agent
    if a.type == "random":
        return RandomAgent(env.single_action_space, device, generator)
    if a.goal_obs and len(a.goal_obs) != env.obs_dim:
        raise ConfigError(f"agent.goal_obs={list(a.goal_obs)!r} has {len(a.goal_obs)} entries: expected "
                          f"{env.obs_dim} (the observation size of env.id={cfg.env.id!r}), or [] for no goal")
    world = make_world(cfg, env, device, generator)
    planner = Planner(world.encoder.actions, a.horizon, a.candidates, a.planner, a.cem_iters, a.elite_frac,
                      a.repeat_prob, a.discount, device, generator)
    cls = FreeEnergyAgent if a.type == "fe" else AdversarialFreeEnergyAgent
    return cls(world, planner, surprise=a.surprise, surprise_weight=a.surprise_weight,
               goal_obs=list(a.goal_obs) or None, goal_weight=a.goal_weight, draws=a.draws,
               complete_steps=a.complete_steps or None, complete_init=a.complete_init, fe_draws=a.fe_draws, epsilon=a.epsilon,
               warmup_steps=a.warmup_steps, fit_ratio=a.fit_ratio, action_repeat=a.action_repeat,
               generator=generator)


def make_bonus(cfg: Config, env: Any, device: torch.device, generator: torch.Generator) -> BonusTransform | None:
    """The reward bonus of SB3 agents (None for ``agent.bonus: none``)."""
    a = cfg.agent
    if a.bonus == "none":
        return None
    if a.bonus in ("afe", "fe"):
        source: Any = WorldModelSurprise(make_world(cfg, env, device, generator), a.fit_ratio, a.fe_draws,
                                          a.fit_every)
    elif a.bonus == "count":
        source = CountSurprise(env.map_cells, env.num_cells, device)
    else:
        source = RNDSurprise(env.obs_dim, fit_ratio=max(a.fit_ratio, 1),
                             batch_size=cfg.world_model.batch_size, lr=cfg.world_model.lr, device=device)
    return BonusTransform(source, a.int_coef, a.ext_coef, maximise=a.bonus != "fe")


# ------------------------------------------------------------------ bookkeeping
def _accumulate(acc: torch.Tensor, values: torch.Tensor) -> None:
    """Add ``values``' sum and count to ``acc`` = [sum, count] in place, on ``acc``'s device."""
    acc[0] += values.to(acc.device, torch.float64).sum()
    acc[1] += values.numel()


class Tracker:
    """Coverage, env-specific fractions, success and free-energy figures of a run."""

    def __init__(self, env: Any, steps: int) -> None:
        self.env = env
        self.steps = steps
        self.vis = Visitation.for_env(env)
        n = env.num_envs
        # Running sums stay tensors on the env's device: no host sync in the step loop.
        zeros = lambda: torch.zeros(2, dtype=torch.float64, device=env.device)  # noqa: E731
        self.dark = zeros()  # copy-steps with light off, copy-steps counted (second half)
        self.tv = zeros()    # copy-steps at the TV, copy-steps counted
        self.fe = zeros()    # free-energy sum and count since the last interval
        self.reward = zeros()
        self.has_light = self.has_tv = False
        self.succeeded = torch.zeros(n, dtype=torch.bool, device=env.device)
        self.last_fe = float("nan")
        self._last_rate = (time.perf_counter(), 0)

    def start(self, info: dict[str, Any]) -> None:
        self.vis.add(self.env.map_cells(info["map_xy"]))

    def step(self, t: int, reward: torch.Tensor, terminated: torch.Tensor, info: dict[str, Any],
             fe: torch.Tensor | None) -> None:
        self.vis.add(self.env.map_cells(info["final_map_xy"]))
        if "light_on" in info:
            self.has_light = True
            if t >= self.steps // 2:
                _accumulate(self.dark, ~torch.as_tensor(info["light_on"]).bool())
        if "at_tv" in info:
            self.has_tv = True
            _accumulate(self.tv, torch.as_tensor(info["at_tv"]).bool())
        self.succeeded |= terminated.to(self.succeeded.device).bool()
        _accumulate(self.reward, reward)
        if fe is not None:
            _accumulate(self.fe, fe)

    def interval_metrics(self, step: int) -> dict[str, float]:
        """Figures since the last call, env-steps/s included; resets the interval sums."""
        now = time.perf_counter()
        last_t, last_step = self._last_rate
        self._last_rate = (now, step)
        out = dict(self.vis.metrics())
        out["env/steps_per_second"] = (step - last_step) * self.env.num_envs / max(now - last_t, 1e-9)
        fe, reward = self.fe.tolist(), self.reward.tolist()
        if fe[1]:
            self.last_fe = fe[0] / fe[1]
            out["agent/free_energy"] = self.last_fe
        if reward[1]:
            out["env/reward_mean"] = reward[0] / reward[1]
        out["env/success_rate"] = float(self.succeeded.float().mean())
        dark, tv = self.dark.tolist(), self.tv.tolist()
        if self.has_light and dark[1]:
            out["env/dark_fraction"] = dark[0] / dark[1]
        if self.has_tv and tv[1]:
            out["env/tv_fraction"] = tv[0] / tv[1]
        self.fe.zero_()
        self.reward.zero_()
        return out

    def start_clock(self, step: int) -> None:
        """Measure the next interval's env-steps/s from now and ``step``."""
        self._last_rate = (time.perf_counter(), step)

    def summary(self) -> dict[str, float]:
        out = {"coverage": self.vis.coverage, "unique_cells": self.vis.unique_cells,
               "mean_env_coverage": self.vis.mean_env_coverage,
               "final_free_energy": self.last_fe if math.isfinite(self.last_fe) else None,
               "success_rate": float(self.succeeded.float().mean())}
        if self.has_light:
            dark = self.dark.tolist()
            out["dark_fraction"] = dark[0] / max(dark[1], 1.0)
        if self.has_tv:
            tv = self.tv.tolist()
            out["tv_fraction"] = tv[0] / max(tv[1], 1.0)
        return out

    def state_dict(self) -> dict:
        return {"vis": self.vis.state_dict(), "dark": self.dark.tolist(), "tv": self.tv.tolist(),
                "has": [self.has_light, self.has_tv], "succeeded": self.succeeded.cpu(), "last_fe": self.last_fe}

    def load_state_dict(self, s: dict) -> None:
        self.vis.load_state_dict(s["vis"])
        self.dark = torch.tensor(s["dark"], dtype=torch.float64, device=self.env.device)
        self.tv = torch.tensor(s["tv"], dtype=torch.float64, device=self.env.device)
        self.has_light, self.has_tv = s["has"]
        self.succeeded = s["succeeded"].to(self.succeeded.device)
        self.last_fe = float(s["last_fe"])

    def draw(self, ctx: RunContext, step: int) -> None:
        """Exploration map (visits per cell, walls = unreachable cells on grid worlds)."""
        from experiments.maps import plot_exploration_map

        counts = self.vis.heatmap().numpy()
        walls = None
        if self.env.reachable_cells is not None:
            walls = ~self.vis.reachable.reshape(counts.shape).cpu().numpy()
        top = float(self.steps * self.env.num_envs)
        fig = plot_exploration_map(counts, self.env.map_bounds, walls=walls, vmax=top,
                                   log=ctx.cfg.logging.map_log_scale,
                                   title=f"{ctx.cfg.run.name or 'agent'}: step {step}, "
                                         f"coverage {self.vis.coverage:.2f}")
        ctx.save_figure(fig, "exploration_map", step)


@torch.no_grad()
def draw_latent_map(ctx: RunContext, agent: Any, step: int, rows: int = 1024) -> None:
    """Codes of replayed transitions (2-D PCA) coloured by their free energy.

    Drawn under a forked RNG so that drawing (or not) leaves the run's random
    streams, and so its results, unchanged.
    """
    world = getattr(agent, "world", None)
    if world is None or len(world.replay) == 0:
        return
    from experiments.maps import plot_latent_map

    devices = [ctx.device] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        gen = torch.Generator(device=world.replay.device)
        gen.manual_seed(step)
        raw, _, _ = world.replay.sample(min(rows, len(world.replay)), gen)
        x = world.encoder.normalise_raw(raw)
        codes, fe = world.model.encode(x), world.model.free_energy(x)
    ctx.save_figure(plot_latent_map(codes, fe, title=f"latent space: step {step}"), "latent_map", step)


def _rng_state(generator: torch.Generator) -> dict:
    # The global torch / numpy / python states are saved and restored by the runner.
    return {"gen": generator.get_state()}


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    generator.set_state(state["gen"])


def _check_finite(metrics: dict[str, float], step: int) -> None:
    loss = metrics.get("loss", metrics.get("world_model/loss"))
    if loss is not None and not math.isfinite(loss):
        raise FloatingPointError(f"world_model/loss became {loss} at step {step}")


# ------------------------------------------------------------------ the loops
def run(ctx: RunContext) -> dict:
    """Run ``cfg.agent`` in ``cfg.env`` for ``cfg.run.steps`` steps per copy; return the summary."""
    cfg = ctx.cfg
    if cfg.agent.type in SB3_ALGOS:
        return _run_sb3(ctx)
    device = ctx.device
    generator = torch.Generator(device=device)
    generator.manual_seed(ctx.seed)
    env = make_env(cfg, device)
    agent = make_agent(cfg, env, device, generator)
    rare = None
    if cfg.umbrella.windows > 0 and cfg.agent.type in ("fe", "afe"):  # rare-state biasing (a heuristic)
        from agents.rare_state import RareStateBias

        rare = RareStateBias.from_config(cfg.umbrella, env.num_envs, device, generator)
        agent.score_bias = rare.score_bias
    steps = cfg.run.steps
    tracker = Tracker(env, steps)
    start = 0
    resume = ctx.load_checkpoint()
    if resume is not None:
        agent.load_state_dict(resume["agent"])
        tracker.load_state_dict(resume["tracker"])
        start = int(resume["step"])
    # On resume the env restarts its episodes from a seed that depends on the step reached.
    obs = env.reset(seed=ctx.seed + (1_000_003 * start if start else 0))
    if resume is not None:
        _set_rng_state(resume["rng"], generator)
    else:
        tracker.start(env.last_info)
    interval, map_interval = cfg.logging.interval, cfg.logging.map_interval
    ckpt_every = cfg.run.checkpoint_every
    bar = ctx.progress(steps - start, f"{cfg.run.name or cfg.agent.type}")
    t0, wm_metrics = time.perf_counter(), {}
    tracker.start_clock(start)
    done = start  # last step whose transition is fully recorded
    try:
        for t in range(start, steps):
            actions = agent.act(obs)
            if rare is not None:
                rare.before_step(env, agent)
            next_obs, reward, terminated, truncated, info = env.step(actions)
            fe = agent.observe(obs, actions, info["final_obs"], terminated | truncated)
            if rare is not None:
                next_obs = rare.after_step(env, agent, fe, next_obs, t + 1)
            try:
                wm_metrics = agent.update() or wm_metrics
            except FloatingPointError as err:
                raise FloatingPointError(f"world_model/loss became nan at step {t + 1} ({err})") from err
            _check_finite(wm_metrics, t + 1)
            tracker.step(t, reward, terminated, info, fe if cfg.agent.type != "random" else None)
            obs = next_obs
            step = done = t + 1
            bar.update(1)
            if step % interval == 0 or step == steps:
                metrics = tracker.interval_metrics(step)
                metrics.update({f"world_model/{k}": v for k, v in wm_metrics.items()})
                plan = getattr(agent, "last_plan", {})
                if "surprise" in plan:
                    metrics["agent/plan_surprise"] = float(plan["surprise"].mean())
                ctx.log(metrics, step)
                bar.set_postfix({"sps": f"{metrics['env/steps_per_second']:.0f}", "F": f"{tracker.last_fe:.3g}",
                                 "cov": f"{tracker.vis.coverage:.2f}"})
            if step % map_interval == 0 and step != steps:
                tracker.draw(ctx, step)
                draw_latent_map(ctx, agent, step)
            if ckpt_every and step % ckpt_every == 0 and step != steps:
                ctx.save_checkpoint(_state(step, agent, tracker, generator))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was learned, then stop
        if done > start:
            ctx.save_checkpoint(_state(done, agent, tracker, generator))
        raise
    finally:
        bar.close()
        env.close()
    elapsed = time.perf_counter() - t0
    draw_latent_map(ctx, agent, steps)
    result = _finish(ctx, tracker, _state(steps, agent, tracker, generator), start, elapsed)
    if rare is not None:
        from agents.rare_state import rare_visit_summary

        result.update(rare.summary(), **rare_visit_summary(make_env(cfg, device), steps, ctx.seed, tracker.vis))
    return result


def _finish(ctx: RunContext, tracker: Tracker, state: dict, start: int, elapsed: float) -> dict:
    """Last map, last checkpoint, visit counts; the summary of a run that went from ``start``."""
    steps, n = tracker.steps, tracker.env.num_envs
    tracker.draw(ctx, steps)
    ctx.save_checkpoint(state)
    ctx.save_array("visits", tracker.vis.heatmap().numpy())
    return {"env_steps": steps * n, "env_steps_per_second": (steps - start) * n / max(elapsed, 1e-9),
            **tracker.summary()}


def _state(step: int, agent: Any, tracker: Tracker, generator: torch.Generator) -> dict:
    return {"step": step, "agent": agent.state_dict(), "tracker": tracker.state_dict(),
            "rng": _rng_state(generator)}


def _check_action_space(cfg: Config, action_space: Any) -> None:
    """Raise a ConfigError naming ``agent.type`` when that SB3 algorithm cannot act in ``action_space``."""
    from gymnasium import spaces

    # The action spaces each SB3 algorithm accepts (its ``supported_action_spaces``).
    table = {"ppo": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
             "a2c": (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
             "dqn": (spaces.Discrete,), "sac": (spaces.Box,)}
    if isinstance(action_space, table[cfg.agent.type]):
        return
    valid = [name for name, ok in table.items() if isinstance(action_space, ok)] + ["fe", "afe", "random"]
    raise ConfigError(f"agent.type={cfg.agent.type!r} is invalid for env.id={cfg.env.id!r}, whose actions are "
                      f"{type(action_space).__name__}: expected one of {', '.join(valid)}")


def _run_sb3(ctx: RunContext) -> dict:
    """An SB3 algorithm with the configured bonus, tracked like the planners."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.sb3_env import BatchedVecEnv

    cfg = ctx.cfg
    device = ctx.device
    generator = torch.Generator(device=device)
    generator.manual_seed(ctx.seed)
    env = make_env(cfg, device)
    venv: Any = BatchedVecEnv(env, seed=ctx.seed)
    transform = make_bonus(cfg, env, device, generator)
    if transform is not None:
        venv = SurpriseBonusVecEnv(venv, transform)
    algo_cls = {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN, "sac": sb3.SAC}[cfg.agent.type]
    _check_action_space(cfg, venv.action_space)
    try:
        model = algo_cls("MlpPolicy", venv, seed=ctx.seed, device=device, verbose=0, **dict(cfg.agent.sb3_kwargs))
    except TypeError as err:
        raise ConfigError(f"agent.sb3_kwargs={dict(cfg.agent.sb3_kwargs)!r} is invalid for "
                          f"agent.type={cfg.agent.type!r}: {err}; expected keyword arguments of "
                          f"stable_baselines3.{algo_cls.__name__}") from err
    steps = cfg.run.steps
    tracker = Tracker(env, steps)
    start = 0
    resume = ctx.load_checkpoint()
    if resume is not None:
        model.policy.load_state_dict(resume["policy"])
        if transform is not None and resume.get("bonus") is not None:
            transform.source.load_state_dict(resume["bonus"])
        tracker.load_state_dict(resume["tracker"])
        start = int(resume["step"])
    bar = ctx.progress(steps - start, f"{cfg.run.name or cfg.agent.type}")
    base = env  # the BatchedEnv whose tensor info we read after each step

    def state(step: int) -> dict:
        return {"step": step, "policy": {k: v.detach().cpu() for k, v in model.policy.state_dict().items()},
                "bonus": None if transform is None else transform.source.state_dict(),
                "tracker": tracker.state_dict(), "rng": _rng_state(generator)}

    class Track(BaseCallback):
        def __init__(self) -> None:
            super().__init__(0)
            self.t = start
            tracker.start_clock(start)

        def _on_training_start(self) -> None:
            if self.t == 0:
                tracker.start(base.last_info)

        def _on_step(self) -> bool:
            info = base.last_info
            rew = torch.as_tensor(self.locals["rewards"]) if transform is None else torch.as_tensor(
                [i["extrinsic_reward"] for i in self.locals["infos"]])
            fe = None
            if transform is not None and transform.last_surprise is not None and cfg.agent.bonus in ("afe", "fe"):
                fe = transform.last_surprise
            term = torch.as_tensor([bool(d) and not i.get("TimeLimit.truncated", False)
                                    for d, i in zip(self.locals["dones"], self.locals["infos"])])
            tracker.step(self.t, rew, term, info, fe)
            self.t += 1
            bar.update(1)
            step = self.t
            if step % cfg.logging.interval == 0 or step == steps:
                metrics = tracker.interval_metrics(step)
                if transform is not None:
                    metrics.update({k if "/" in k else f"agent/{k}": v
                                    for k, v in find_stats(self.training_env).items()})
                ctx.log(metrics, step)
                bar.set_postfix({"sps": f"{metrics['env/steps_per_second']:.0f}",
                                 "cov": f"{tracker.vis.coverage:.2f}"})
            if step % cfg.logging.map_interval == 0 and step != steps:
                tracker.draw(ctx, step)
            if cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0 and step != steps:
                ctx.save_checkpoint(state(step))
            return step < steps

    def find_stats(venv_: Any) -> dict[str, float]:
        from agents.bonus import find_bonus_wrapper

        w = find_bonus_wrapper(venv_)
        return {} if w is None else w.pop_stats()

    t0 = time.perf_counter()
    track = Track()
    try:
        model.learn(total_timesteps=(steps - start) * env.num_envs, callback=[track], progress_bar=False)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep the policy and the tracker, then stop
        if track.t > start:
            ctx.save_checkpoint(state(track.t))
        raise
    finally:
        bar.close()
        venv.close()
    return _finish(ctx, tracker, state(steps), start, time.perf_counter() - t0)
