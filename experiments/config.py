"""Typed, frozen run configuration: one dataclass per component.

A config is built from the dataclass defaults, then a preset (YAML shipped in
``experiments/presets``), then dotted command-line overrides. Every field has a
docstring (``freeenergy show`` prints them); every bad key or value raises a
:class:`ConfigError` that names the key, the value and what would be valid.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from experiments.errors import UserError


class ConfigError(UserError):
    """A config key or value that cannot be used; the message says why."""


def doc(default: Any, text: str) -> Any:
    """A dataclass field with a default and a docstring kept in its metadata."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


def _require(ok: bool, key: str, value: Any, valid: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: expected {valid}")


def _one_of(key: str, value: Any, options: tuple[str, ...]) -> None:
    _require(value in options, key, value, "one of " + ", ".join(map(repr, options)))


@dataclass(frozen=True)
class RunConfig:
    kind: str = doc("agent", "Experiment kind: generative, agent, novelty, umbrella or quickstart.")
    name: str = doc("", "Experiment name (the preset's name by default); part of the run folder name.")
    seed: int = doc(0, "Seed for torch, numpy and the environments; the same seed on CPU gives the same summary.")
    seeds: tuple[int, ...] = doc((), "Several seeds: the run repeats once per seed and reports mean and spread.")
    steps: int = doc(2000, "Environment steps per environment copy (agent and umbrella runs).")
    out_root: str = doc("runs", "Folder under which run folders are created (unless --out names one).")
    checkpoint_every: int = doc(500, "Write a checkpoint every this many env steps, for `freeenergy resume` after a crash "
                                "(0: only at the end and on interrupt).")
    threads: int = doc(0, "Torch CPU threads (0: torch's default). Results depend on it only through float rounding.")

    def __post_init__(self) -> None:
        _one_of("run.kind", self.kind, KINDS)
        _require(self.steps >= 1, "run.steps", self.steps, "an integer >= 1")
        _require(self.checkpoint_every >= 0, "run.checkpoint_every", self.checkpoint_every, "an integer >= 0")
        _require(self.seed >= 0, "run.seed", self.seed, "an integer >= 0")
        _require(all(s >= 0 for s in self.seeds), "run.seeds", list(self.seeds), "a list of integers >= 0")
        _require(len(set(self.seeds)) == len(self.seeds), "run.seeds", list(self.seeds), "distinct seeds")
        _require(self.threads >= 0, "run.threads", self.threads, "an integer >= 0")
        _require(bool(self.out_root), "run.out_root", self.out_root, "a folder name")
        bad = [c for c in self.name if c in '/\\:*?"<>|']
        _require(not bad, "run.name", self.name, "a name without / \\ : * ? \" < > |")


#: World models by name (freeenergy.models.WORLD_MODELS; a test checks they agree).
WORLD_MODEL_NAMES = ("rae", "rae_gmm", "ae", "mc_ae", "vae", "dae", "gan")
KINDS = ("generative", "agent", "novelty", "umbrella", "quickstart")


@dataclass(frozen=True)
class EnvConfig:
    id: str = doc("freeenergy/GridMaze-v0", "Project id, Gymnasium id (e.g. MountainCar-v0) or 'package.module:Class'.")
    num_envs: int = doc(16, "Batched environment copies stepped at once.")
    device: str = doc("cpu", "Torch device for environments, models and agents: cpu, cuda, cuda:N or auto.")
    kwargs: dict = doc({}, "Keyword arguments passed to the environment constructor.")
    map_xy: Any = doc(None, "Map coordinate of a plugged-in env: observation indices [i, j], or 'module:function'.")
    vector: str = doc("sync", "Gymnasium vector backend for plugged-in envs: sync or async.")

    def __post_init__(self) -> None:
        _require(bool(self.id), "env.id", self.id, "a non-empty environment id")
        _require(self.num_envs >= 1, "env.num_envs", self.num_envs, "an integer >= 1")
        _one_of("env.vector", self.vector, ("sync", "async"))
        dev = self.device
        _require(dev in ("cpu", "auto", "cuda", "mps") or dev.startswith("cuda:"), "env.device", dev,
                 "cpu, cuda, cuda:N, mps or auto")
        m = self.map_xy
        ok = m is None or isinstance(m, str) and ":" in m or (
            isinstance(m, (list, tuple)) and len(m) == 2 and all(isinstance(i, int) for i in m))
        _require(ok, "env.map_xy", m, "null, two observation indices like [0, 1], or 'module:function'")


@dataclass(frozen=True)
class WorldModelConfig:
    name: str = doc("rae", "World model: rae, rae_gmm, ae, mc_ae, vae, dae or gan.")
    hidden: int = doc(128, "Width of the hidden layers.")
    depth: int = doc(1, "Hidden layers in the encoder and in the decoder.")
    code_dim: int = doc(6, "Size of the latent code.")
    passes: int = doc(3, "RAE passes K (shared weights) / walk-back steps of the DAE.")
    sigma: float = doc(0.1, "Gaussian noise on the code at every pass.")
    code_penalty: float = doc(0.03, "Weight of the mean squared code penalty.")
    lr: float = doc(1e-3, "Adam learning rate.")
    batch_size: int = doc(128, "Minibatch size of world-model steps.")
    activation: str = doc("relu", "Hidden-layer activation: relu, tanh, sigmoid, elu, gelu, softplus, leaky_relu.")
    code_activation: str = doc("linear", "Activation of the code layer (linear or sigmoid, ...; not the VAE/GAN).")
    output_activation: str = doc("linear", "Activation of the output layer (sigmoid for data in [0, 1]).")
    prior: str = doc("normal", "Starting codes for sampling: normal (N(0, I)) or uniform (U(0, 1), sigmoid codes).")
    sample_steps: int = doc(0, "Decodes in the sampling chain of the RAE and DAE (0: the model's default).")
    complete_steps: int = doc(0, "Iterations of clamped pattern completion (0: the model's default).")
    chain_steps: int = doc(5, "MC-resampled AE: decode-encode rounds after the first decode.")
    chain_corruption: float = doc(0.0, "MC-resampled AE: std of Gaussian noise on x before each encode.")
    corruption: float = doc(0.5, "Walk-back DAE: std of the Gaussian corruption in data space.")
    beta: float = doc(1.0, "VAE: weight of the KL term.")
    obs_var: float = doc(0.1, "VAE: variance of the Gaussian likelihood.")
    smoothing: float = doc(0.1, "GAN: one-sided label smoothing of the real targets.")

    def __post_init__(self) -> None:
        _one_of("world_model.name", self.name, WORLD_MODEL_NAMES)
        acts = ("relu", "tanh", "sigmoid", "elu", "gelu", "softplus", "leaky_relu", "linear")
        _one_of("world_model.activation", self.activation, acts)
        _one_of("world_model.code_activation", self.code_activation, acts)
        _one_of("world_model.output_activation", self.output_activation, acts)
        _one_of("world_model.prior", self.prior, ("normal", "uniform"))
        for key in ("sample_steps", "complete_steps", "chain_steps"):
            v = getattr(self, key)
            _require(v >= 0, f"world_model.{key}", v, "an integer >= 0")
        for key in ("chain_corruption", "corruption", "beta"):
            v = getattr(self, key)
            _require(v >= 0, f"world_model.{key}", v, "a number >= 0")
        _require(self.obs_var > 0, "world_model.obs_var", self.obs_var, "a number > 0")
        _require(0 <= self.smoothing < 1, "world_model.smoothing", self.smoothing, "a number in [0, 1)")
        for key in ("hidden", "depth", "code_dim", "passes", "batch_size"):
            v = getattr(self, key)
            _require(v >= 1, f"world_model.{key}", v, "an integer >= 1")
        _require(self.sigma >= 0, "world_model.sigma", self.sigma, "a number >= 0")
        _require(self.code_penalty >= 0, "world_model.code_penalty", self.code_penalty, "a number >= 0")
        _require(0 < self.lr < 1, "world_model.lr", self.lr, "a number in (0, 1)")


AGENT_TYPES = ("fe", "afe", "random", "ppo", "a2c", "dqn", "sac", "amortised")
BONUSES = ("afe", "fe", "count", "rnd", "none")


@dataclass(frozen=True)
class AgentConfig:
    type: str = doc("afe", "Agent: fe (free-energy minimising planner), afe (adversarial planner), random, "
                    "a stable-baselines3 algorithm (ppo, a2c, dqn, sac) trained with agent.bonus, or amortised "
                    "(torch-native PPO on the batched copies, rewarded by agent.bonus; Discrete actions).")
    surprise: str = doc("total", "Surprise the planners score: total (free energy of imagined transitions), "
                        "epistemic (disagreement across the ensemble or noise draws), aleatoric (total - "
                        "epistemic) or predicted (surprise head: free energy that real transitions showed).")
    surprise_head: bool = doc(False, "Train a surprise head S(obs, action) on the free energy of real "
                              "transitions (needed by surprise: predicted).")
    head_discount: float = doc(0.0, "Surprise head: discount of the bootstrapped cumulative free energy "
                               "(0: one step; > 0: expected free energy over an unbounded horizon, Discrete "
                               "actions only).")
    surprise_weight: float = doc(1.0, "Weight of the surprise term (minimised by fe, maximised by afe).")
    goal_obs: tuple[float, ...] = doc((), "Prior preference: a goal observation (raw units); empty for none.")
    goal_weight: float = doc(0.0, "Weight of the goal-preference (risk) term in the planners' cost.")
    ensemble: int = doc(1, "World models learning side by side (their disagreement is the epistemic surprise).")
    draws: int = doc(1, "Completions per member and imagined step (noise draws).")
    horizon: int = doc(6, "Imagined steps H per candidate action sequence.")
    candidates: int = doc(64, "Candidate action sequences C per environment copy.")
    planner: str = doc("shooting", "Candidate search: shooting (random sequences) or cem (cross-entropy method).")
    cem_iters: int = doc(3, "CEM refits per planning call.")
    elite_frac: float = doc(0.1, "CEM: share of candidates kept as elites.")
    repeat_prob: float = doc(0.5, "Discrete shooting: chance that an action repeats the previous one.")
    discount: float = doc(1.0, "Weight discount**h of imagined step h.")
    complete_steps: int = doc(0, "Iterations of clamped completion per imagined step (0: the model's default).")
    complete_init: str = doc("obs", "Starting guess of the predicted obs_t+1: obs (no change) or mean "
                             "(the running mean observation).")
    fe_draws: int = doc(1, "Noise draws of the free energy of imagined and real transitions.")
    epsilon: float = doc(0.0, "Chance of a uniformly random action per copy and step (planners).")
    warmup_steps: int = doc(10, "Random steps before the planners start planning.")
    fit_ratio: int = doc(1, "World-model (or RND) optimiser steps per env step (per decision with action_repeat).")
    fit_every: int = doc(1, "Stable-baselines3 bonus: world-model steps on every fit_every-th vec step only "
                         "(amortises learning over several batches of transitions).")
    action_repeat: int = doc(1, "Planners: env steps each decision is held for; the world model learns "
                             "[obs_t, action, obs_t+k] (temporal abstraction, like frame skip).")
    replay_capacity: int = doc(50000, "Transitions kept in the world model's replay buffer.")
    recent_fraction: float = doc(0.0, "Share of each world-model batch drawn from the newest transitions.")
    recent_window: int = doc(1024, "Newest transitions that recent_fraction draws from.")
    bonus: str = doc("afe", "Reward bonus of stable-baselines3 and amortised agents: afe (+surprise), fe "
                     "(-surprise; agent.surprise names the term for amortised agents), count (exact map-cell "
                     "counts), rnd (random network distillation) or none.")
    int_coef: float = doc(1.0, "Weight of the intrinsic bonus in the reward.")
    ext_coef: float = doc(0.0, "Weight of the environment's own reward (0: no extrinsic reward).")
    sb3_kwargs: dict = doc({}, "Keyword arguments of the stable-baselines3 algorithm, e.g. {n_steps: 64}.")
    ppo: dict = doc({}, "Amortised agent: PPO settings, e.g. {rollout: 128, epochs: 4, minibatches: 4, lr: 0.001, "
                    "hidden: 64, gamma: 0.99, gamma_int: 0.99, gae_lambda: 0.95, clip: 0.2, ent_coef: 0.01, "
                    "vf_coef: 0.5, max_grad_norm: 0.5, predictor_fraction: 0.25} (agents.ppo.PPOSettings).")

    def __post_init__(self) -> None:
        _one_of("agent.type", self.type, AGENT_TYPES)
        _one_of("agent.surprise", self.surprise, ("total", "epistemic", "aleatoric", "predicted"))
        _require(self.surprise != "predicted" or self.surprise_head, "agent.surprise_head", self.surprise_head,
                 "true when agent.surprise is predicted")
        _one_of("agent.planner", self.planner, ("shooting", "cem"))
        _one_of("agent.complete_init", self.complete_init, ("obs", "mean"))
        _one_of("agent.bonus", self.bonus, BONUSES)
        for key in ("ensemble", "draws", "horizon", "candidates", "cem_iters", "fe_draws", "replay_capacity",
                    "action_repeat", "fit_every"):
            v = getattr(self, key)
            _require(v >= 1, f"agent.{key}", v, "an integer >= 1")
        for key in ("complete_steps", "warmup_steps", "fit_ratio"):
            v = getattr(self, key)
            _require(v >= 0, f"agent.{key}", v, "an integer >= 0")
        _require(0 < self.elite_frac <= 1, "agent.elite_frac", self.elite_frac, "a number in (0, 1]")
        _require(0 <= self.repeat_prob <= 1, "agent.repeat_prob", self.repeat_prob, "a number in [0, 1]")
        _require(0 < self.discount <= 1, "agent.discount", self.discount, "a number in (0, 1]")
        _require(0 <= self.head_discount < 1, "agent.head_discount", self.head_discount, "a number in [0, 1)")
        _require(0 <= self.epsilon <= 1, "agent.epsilon", self.epsilon, "a number in [0, 1]")
        _require(0 <= self.recent_fraction <= 1, "agent.recent_fraction", self.recent_fraction, "a number in [0, 1]")
        _require(self.recent_window >= 1, "agent.recent_window", self.recent_window, "an integer >= 1")
        _require(self.int_coef >= 0, "agent.int_coef", self.int_coef, "a number >= 0")
        _require(self.surprise in ("total", "predicted") or self.ensemble >= 2 or self.draws >= 2, "agent.surprise",
                 self.surprise, "total, or set agent.ensemble >= 2 or agent.draws >= 2 for epistemic/aleatoric")
        _require(self.goal_weight == 0 or bool(self.goal_obs), "agent.goal_obs", list(self.goal_obs),
                 "a goal observation when agent.goal_weight != 0")
        if self.ppo or self.type == "amortised":
            from agents.ppo import ppo_settings

            try:
                ppo_settings(self.ppo)
            except ValueError as err:
                raise ConfigError(str(err)) from None


@dataclass(frozen=True)
class UmbrellaConfig:
    windows: int = doc(0, "Umbrella windows along the collective variable (0: no biasing).")
    kappa: float = doc(0.0, "Harmonic bias stiffness, U_k = kappa/2 (xi - xi_k)^2, in energy units per squared "
                       "CV unit (0: kappa_factor * kT / window spacing^2).")
    kappa_factor: float = doc(1.0, "With kappa=0: window thermal width = spacing / sqrt(kappa_factor).")
    direction: tuple[float, ...] = doc((), "CV direction in state space (umbrella runs); empty: from the env's "
                                       "deepest minimum to its second minimum (Muller-Brown A -> B).")
    cv_range: tuple[float, ...] = doc((), "[lo, hi] of the window centres along the CV; empty: the two minima's "
                                      "projections widened by cv_margin.")
    cv_margin: float = doc(0.3, "With empty cv_range: extra CV length beyond each minimum.")
    bins: int = doc(60, "Histogram bins of the free-energy profile (PMF).")
    equilibration: int = doc(200, "Steps discarded at the start of every window (and of the unbiased run).")
    subsample: bool = doc(True, "Keep every g-th sample of each chain (g = statistical inefficiency).")
    min_overlap: float = doc(0.03, "Warn when neighbouring windows' MBAR overlap falls below this.")
    eval_kT: float = doc(10.0, "PMF errors are measured over bins within this many kT of the exact minimum.")
    weight: float = doc(1.0, "Rare-state biasing: scale of the -U_k reward added to the agent's score.")
    reset_fraction: float = doc(0.25, "Rare-state biasing: share of copies restarted at rare replay states per "
                                "refresh (where the env supports set_state).")
    refresh: int = doc(200, "Rare-state biasing: env steps between re-centring the windows on recent free "
                        "energies and restarting copies.")
    fe_quantiles: tuple[float, ...] = doc((0.5, 0.99), "Rare-state biasing: window centres span these quantiles "
                                          "of the free energies the planner imagined since the last refresh.")
    importance_weights: bool = doc(True, "Rare-state biasing: weight replay samples so that the world model's "
                                   "loss stays that of unbiased data.")

    def __post_init__(self) -> None:
        _require(self.windows >= 0, "umbrella.windows", self.windows, "an integer >= 0")
        _require(self.kappa >= 0, "umbrella.kappa", self.kappa, "a number >= 0 (0: automatic)")
        _require(self.kappa_factor > 0, "umbrella.kappa_factor", self.kappa_factor, "a number > 0")
        _require(len(self.cv_range) in (0, 2) and (len(self.cv_range) == 0 or self.cv_range[0] < self.cv_range[1]),
                 "umbrella.cv_range", list(self.cv_range), "empty or [lo, hi] with lo < hi")
        _require(len(self.direction) == 0 or any(v != 0 for v in self.direction), "umbrella.direction",
                 list(self.direction), "empty or a non-zero vector")
        _require(self.cv_margin >= 0, "umbrella.cv_margin", self.cv_margin, "a number >= 0")
        _require(self.bins >= 2, "umbrella.bins", self.bins, "an integer >= 2")
        _require(self.equilibration >= 0, "umbrella.equilibration", self.equilibration, "an integer >= 0")
        _require(0 <= self.min_overlap < 1, "umbrella.min_overlap", self.min_overlap, "a number in [0, 1)")
        _require(self.eval_kT > 0, "umbrella.eval_kT", self.eval_kT, "a number > 0")
        _require(self.weight >= 0, "umbrella.weight", self.weight, "a number >= 0")
        _require(0 <= self.reset_fraction <= 1, "umbrella.reset_fraction", self.reset_fraction, "a number in [0, 1]")
        _require(self.refresh >= 1, "umbrella.refresh", self.refresh, "an integer >= 1")
        q = self.fe_quantiles
        _require(len(q) == 2 and 0 <= q[0] < q[1] <= 1, "umbrella.fe_quantiles", list(q),
                 "[lo, hi] with 0 <= lo < hi <= 1")


@dataclass(frozen=True)
class NoveltyConfig:
    rounds: int = doc(10, "Novelty-search rounds (train, search latent space, replace data).")
    initial_epochs: int = doc(100, "Training epochs on the data before the first round.")
    epochs: int = doc(50, "Training epochs between rounds.")
    latent_fraction: float = doc(0.1, "Random latent points per round, as a fraction of the data set size.")
    start: str = doc("data", "Where the latent points start: prior (the model's prior codes), data (codes "
                     "of random rows) or code_gaussian (Gaussian fitted to the data's codes).")
    search_steps: int = doc(10, "Gradient steps up the cycle error ||z - E(D(z))||^2 per round.")
    step_size: float = doc(0.4, "Length of each search step (after normalisation).")
    normalise: str = doc("l2", "Gradient normalisation per point: l2 (unit norm), max (unit max-abs) or none.")
    replace_fraction: float = doc(0.025, "Fraction of the data set replaced by novel samples per round.")
    wave_length: int = doc(64, "Waves data set: samples per waveform.")
    wave_band: tuple[float, ...] = doc((3.0, 5.0), "Waves data set: [lo, hi] frequency band, cycles per window.")
    gallery: int = doc(16, "Novel waveforms drawn in each round's gallery figure.")
    noise_flatness: float = doc(0.35, "Spectral flatness above which a sample counts as noise-like "
                                "(white noise: 0.57 +- 0.08).")
    peak_rel_power: float = doc(0.1, "A spectral peak needs this share of its row's top power.")
    peak_min_share: float = doc(0.01, "A frequency counts as a distinct peak when it peaks in this share of rows.")

    def __post_init__(self) -> None:
        _require(self.rounds >= 0, "novelty.rounds", self.rounds, "an integer >= 0")
        for key in ("initial_epochs", "epochs", "search_steps", "gallery"):
            v = getattr(self, key)
            _require(v >= 0, f"novelty.{key}", v, "an integer >= 0")
        _require(0 < self.latent_fraction <= 1, "novelty.latent_fraction", self.latent_fraction, "a number in (0, 1]")
        _one_of("novelty.start", self.start, ("prior", "data", "code_gaussian"))
        _require(self.step_size >= 0, "novelty.step_size", self.step_size, "a number >= 0")
        _one_of("novelty.normalise", self.normalise, ("l2", "max", "none"))
        _require(0 <= self.replace_fraction <= 1, "novelty.replace_fraction", self.replace_fraction,
                 "a number in [0, 1]")
        _require(self.wave_length >= 8, "novelty.wave_length", self.wave_length, "an integer >= 8")
        b = self.wave_band
        _require(len(b) == 2 and 0 < b[0] <= b[1] < self.wave_length / 2, "novelty.wave_band", list(b),
                 f"[lo, hi] with 0 < lo <= hi < wave_length/2 = {self.wave_length / 2}")
        _require(0 < self.noise_flatness < 1, "novelty.noise_flatness", self.noise_flatness, "a number in (0, 1)")
        _require(0 < self.peak_rel_power <= 1, "novelty.peak_rel_power", self.peak_rel_power, "a number in (0, 1]")
        _require(0 < self.peak_min_share <= 1, "novelty.peak_min_share", self.peak_min_share, "a number in (0, 1]")


@dataclass(frozen=True)
class DataConfig:
    name: str = doc("parabola", "Data set: parabola, hexamodal, waves or custom (from data.path).")
    path: str = doc("", "A .npy or .csv file of shape (N, D) for the custom data set.")
    n: int = doc(10000, "Training points drawn from a synthetic data set.")
    standardise: bool = doc(False, "Train on per-column standardised data; samples are mapped back to data space.")
    test_fraction: float = doc(0.2, "Custom data: fraction held out as the reference set of the metrics.")

    def __post_init__(self) -> None:
        _one_of("data.name", self.name, ("parabola", "hexamodal", "waves", "custom"))
        _require(self.name != "custom" or bool(self.path), "data.path", self.path,
                 "a .npy or .csv file when data.name is custom")
        _require(self.n >= 2, "data.n", self.n, "an integer >= 2")
        _require(0 < self.test_fraction < 1, "data.test_fraction", self.test_fraction, "a number in (0, 1)")


@dataclass(frozen=True)
class GenerativeConfig:
    models: tuple[str, ...] = doc(WORLD_MODEL_NAMES, "Models trained and compared.")
    steps: int = doc(800, "Optimiser steps per model.")
    batch_size: int = doc(0, "Batch per step (0: the full training set every step).")
    fresh_batches: bool = doc(False, "Synthetic data: draw a fresh batch from the generator every step.")
    samples: int = doc(20000, "Samples drawn from every model (and fresh true samples for the metrics).")
    sample_init: str = doc("prior", "Chain start for rae, mc_ae, dae: prior (decode prior codes) or "
                           "uniform (uniform points in the data's bounding box).")
    overrides: dict = doc({}, "Per-model world_model settings, e.g. {gan: {lr: 0.0002}, rae: {sample_steps: 77}}.")
    max_metric_points: int = doc(4000, "Subsample cap of the O(n^2) metrics (energy distance, MMD).")

    def __post_init__(self) -> None:
        for m in self.models:
            _one_of("generative.models[]", m, WORLD_MODEL_NAMES)
        _require(len(self.models) >= 1, "generative.models", self.models, "at least one model")
        _require(self.steps >= 1, "generative.steps", self.steps, "an integer >= 1")
        _require(self.batch_size >= 0, "generative.batch_size", self.batch_size, "an integer >= 0")
        _require(self.samples >= 2, "generative.samples", self.samples, "an integer >= 2")
        _one_of("generative.sample_init", self.sample_init, ("prior", "uniform"))
        _require(self.max_metric_points >= 2, "generative.max_metric_points", self.max_metric_points,
                 "an integer >= 2")
        for m, kw in self.overrides.items():
            _one_of("generative.overrides key", m, WORLD_MODEL_NAMES)
            _require(isinstance(kw, dict), f"generative.overrides.{m}", kw, "a mapping of world_model keys")


@dataclass(frozen=True)
class LoggingConfig:
    wandb: str = doc("offline", "Weights & Biases mode: offline, online or disabled.")
    project: str = doc("freeenergy", "W&B project.")
    entity: str = doc("", "W&B entity (team or user); empty for the default.")
    group: str = doc("", "W&B group; empty for none.")
    tags: tuple[str, ...] = doc((), "W&B tags.")
    interval: int = doc(100, "Log scalars every this many env steps.")
    map_interval: int = doc(500, "Draw exploration maps every this many env steps.")
    map_log_scale: bool = doc(True, "Exploration maps on a logarithmic colour scale (visits are heavy-tailed).")
    quiet: bool = doc(False, "No progress bars.")

    def __post_init__(self) -> None:
        _one_of("logging.wandb", self.wandb, ("offline", "online", "disabled"))
        _require(self.interval >= 1, "logging.interval", self.interval, "an integer >= 1")
        _require(self.map_interval >= 1, "logging.map_interval", self.map_interval, "an integer >= 1")
        _require(bool(self.project), "logging.project", self.project, "a non-empty W&B project name")
        _require(all(bool(t) and len(t) <= 64 for t in self.tags), "logging.tags", list(self.tags),
                 "non-empty tags of at most 64 characters (a W&B limit)")


@dataclass(frozen=True)
class QuickstartConfig:
    runs: tuple[str, ...] = doc(("darkroom-fe", "darkroom-afe", "maze-afe"),
                                "Agent presets run one after another, each into a sub-folder of the run.")
    sub_debug: bool = doc(False, "Run each of those presets at its debug size.")
    overrides: dict = doc({}, "Nested config overrides per preset name ('*': for all of them), e.g. "
                              "{maze-afe: {run: {steps: 300}}}.")

    def __post_init__(self) -> None:
        _require(len(self.runs) >= 1, "quickstart.runs", list(self.runs), "at least one preset name")
        for key, value in self.overrides.items():
            _require(isinstance(value, dict), f"quickstart.overrides.{key}", value,
                     "a mapping of config sections, e.g. {run: {steps: 300}}")


@dataclass(frozen=True)
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    umbrella: UmbrellaConfig = field(default_factory=UmbrellaConfig)
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    generative: GenerativeConfig = field(default_factory=GenerativeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    quickstart: QuickstartConfig = field(default_factory=QuickstartConfig)


# ---------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None or tp is Any:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert lists to tuples, ints to floats."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(f"{key}={value!r} is invalid: expected {_type_name(tp)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} is invalid: expected a list")
        (item, *_rest) = typing.get_args(tp) or (Any,)
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}={value!r} is invalid: expected a list")
        return list(value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}={value!r} is invalid: expected a mapping like {{name: value}}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} is invalid: expected true or false")
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)  # 1e6 written as a float
        if isinstance(value, str):
            try:
                as_float = float(value)
            except ValueError:
                as_float = None
            if as_float is not None and as_float.is_integer() and abs(as_float) < 2**53:
                return int(as_float)  # '1e6' read by YAML as a string
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} is invalid: expected an integer")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; accept what Python reads as a number.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r} is invalid: expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} is invalid: expected a string")
        return value
    return value


def unknown_key_error(key: str, valid: list[str]) -> ConfigError:
    """The error for a key that does not exist, with the closest valid keys."""
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"unknown config key {key!r}.{hint} Valid keys here: {', '.join(valid)}")


def build(cls: type, data: dict | None, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested mapping, validating every key and type."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}={data!r} is invalid: expected a mapping of keys")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise unknown_key_error(f"{prefix}{key}", sorted(fields))
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, tp, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except TypeError as err:  # e.g. comparing a wrong type inside __post_init__
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {err}") from err


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) for YAML, JSON and W&B."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(i) for i in v]
        if isinstance(v, dict):
            return {k: plain(i) for k, i in v.items()}
        return v
    return {f.name: (to_dict(getattr(cfg, f.name)) if dataclasses.is_dataclass(getattr(cfg, f.name))
                     else plain(getattr(cfg, f.name))) for f in dataclasses.fields(cfg)}


def field_docs(cls: type = Config, prefix: str = "") -> dict[str, str]:
    """Dotted key -> docstring for every field, for ``freeenergy show --docs``."""
    return {key: text for key, _, _, text in field_table(cls, prefix)}


def field_table(cls: type = Config, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type name, default, docstring) for every field, in declaration order."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(field_table(tp, f"{prefix}{f.name}."))
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append((f"{prefix}{f.name}", _type_name(tp), default, f.metadata.get("doc", "")))
    return out


def from_dict(data: dict) -> Config:
    """The Config saved in a run's config.yaml (a plain nested mapping)."""
    return build(Config, data)
