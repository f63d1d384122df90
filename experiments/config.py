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


class ConfigError(ValueError):
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
    checkpoint_every: int = doc(0, "Write a checkpoint every this many steps (0: only at the end and on interrupt).")

    def __post_init__(self) -> None:
        _one_of("run.kind", self.kind, KINDS)
        _require(self.steps >= 1, "run.steps", self.steps, "an integer >= 1")
        _require(self.checkpoint_every >= 0, "run.checkpoint_every", self.checkpoint_every, "an integer >= 0")
        _require(self.seed >= 0, "run.seed", self.seed, "an integer >= 0")


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
    name: str = doc("rae", "World model: rae, ae, mc_ae, vae, dae or gan.")
    hidden: int = doc(128, "Width of the hidden layers.")
    depth: int = doc(1, "Hidden layers in the encoder and in the decoder.")
    code_dim: int = doc(6, "Size of the latent code.")
    passes: int = doc(3, "RAE passes K (shared weights) / walk-back steps of the DAE.")
    sigma: float = doc(0.1, "Gaussian noise on the code at every pass.")
    code_penalty: float = doc(0.03, "Weight of the mean squared code penalty.")
    lr: float = doc(1e-3, "Adam learning rate.")
    batch_size: int = doc(128, "Minibatch size of world-model steps.")

    def __post_init__(self) -> None:
        _one_of("world_model.name", self.name, ("rae", "ae", "mc_ae", "vae", "dae", "gan"))
        for key in ("hidden", "depth", "code_dim", "passes", "batch_size"):
            v = getattr(self, key)
            _require(v >= 1, f"world_model.{key}", v, "an integer >= 1")
        _require(self.sigma >= 0, "world_model.sigma", self.sigma, "a number >= 0")
        _require(self.code_penalty >= 0, "world_model.code_penalty", self.code_penalty, "a number >= 0")
        _require(0 < self.lr < 1, "world_model.lr", self.lr, "a number in (0, 1)")


@dataclass(frozen=True)
class AgentConfig:
    type: str = doc("afe", "Agent: fe (free-energy minimiser), afe (adversarial), random, count, rnd, ppo.")

    def __post_init__(self) -> None:
        pass


@dataclass(frozen=True)
class UmbrellaConfig:
    windows: int = doc(0, "Umbrella windows along the collective variable (0: no biasing).")

    def __post_init__(self) -> None:
        _require(self.windows >= 0, "umbrella.windows", self.windows, "an integer >= 0")


@dataclass(frozen=True)
class NoveltyConfig:
    rounds: int = doc(10, "Novelty-search rounds (train, search latent space, replace data).")

    def __post_init__(self) -> None:
        _require(self.rounds >= 0, "novelty.rounds", self.rounds, "an integer >= 0")


@dataclass(frozen=True)
class DataConfig:
    name: str = doc("parabola", "Data set: parabola, hexamodal, waves or custom (from data.path).")
    path: str = doc("", "A .npy or .csv file of shape (N, D) for the custom data set.")

    def __post_init__(self) -> None:
        _one_of("data.name", self.name, ("parabola", "hexamodal", "waves", "custom"))
        _require(self.name != "custom" or bool(self.path), "data.path", self.path,
                 "a .npy or .csv file when data.name is custom")


@dataclass(frozen=True)
class GenerativeConfig:
    models: tuple[str, ...] = doc(("rae", "ae", "mc_ae", "vae", "dae", "gan"), "Models trained and compared.")


@dataclass(frozen=True)
class LoggingConfig:
    wandb: str = doc("offline", "Weights & Biases mode: offline, online or disabled.")
    project: str = doc("freeenergy", "W&B project.")
    entity: str = doc("", "W&B entity (team or user); empty for the default.")
    group: str = doc("", "W&B group; empty for none.")
    tags: tuple[str, ...] = doc((), "W&B tags.")
    interval: int = doc(100, "Log scalars every this many env steps.")
    map_interval: int = doc(500, "Draw exploration maps every this many env steps.")
    quiet: bool = doc(False, "No progress bars.")

    def __post_init__(self) -> None:
        _one_of("logging.wandb", self.wandb, ("offline", "online", "disabled"))
        _require(self.interval >= 1, "logging.interval", self.interval, "an integer >= 1")
        _require(self.map_interval >= 1, "logging.map_interval", self.map_interval, "an integer >= 1")


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


# ---------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


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
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} is invalid: expected an integer")
        return value
    if tp is float:
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
        raise ConfigError(f"{prefix or 'config'}={data!r} is invalid: expected a mapping of keys")
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
    """Dotted key -> docstring for every field, for ``freeenergy show --help``."""
    out = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(field_docs(hints[f.name], f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = f.metadata.get("doc", "")
    return out
