"""Typed, frozen run configuration: one dataclass per component.

A config is built from the dataclass defaults, then a preset (YAML shipped in
``experiments/presets``), then dotted command-line overrides. Every field has a
docstring (``freeenergy show`` prints them); every bad key or value raises a
:class:`ConfigError` that names the key, the value and what would be valid.

Modules: :mod:`.engine` (coercion, building, docs), :mod:`.sections` (run,
env, world model, agent), :mod:`.studies` (umbrella, novelty, data,
generative); logging, quickstart and the whole :class:`Config` live here.
The ``world_model`` section is generated from :mod:`freeenergy.model_table`
and ``agent.type`` is checked against :mod:`experiments.agent_table`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.intrinsic import spec as intrinsic_spec
from experiments.config import engine
from experiments.config.agent import AgentConfig, IntrinsicConfig, OnlineConfig, PlannerConfig, migrate_saved
from experiments.config.engine import (
    ConfigError,
    _one_of,
    _require,
    build,
    doc,
    to_dict,
    unknown_key_error,
)
from experiments.config.sections import EnvConfig, RunConfig, WorldModelConfig
from experiments.config.studies import (
    DataConfig,
    GenerativeConfig,
    NoveltyConfig,
    RestartsConfig,
    UmbrellaConfig,
)

__all__ = ["AgentConfig", "Config", "ConfigError", "DataConfig", "EnvConfig", "GenerativeConfig", "IntrinsicConfig",
           "OnlineConfig", "PlannerConfig", "LoggingConfig", "NoveltyConfig", "QuickstartConfig", "RestartsConfig",
           "RunConfig", "UmbrellaConfig", "WorldModelConfig", "build", "doc", "field_docs", "field_table", "from_dict",
           "to_dict", "unknown_key_error"]


#: World models with an epistemic estimate of their own (epistemic surprise needs no ensemble).
MODELS_WITH_EPISTEMIC = ("rae_gmm",)


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
    restarts: RestartsConfig = field(default_factory=RestartsConfig)
    umbrella: UmbrellaConfig = field(default_factory=UmbrellaConfig)
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    generative: GenerativeConfig = field(default_factory=GenerativeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    quickstart: QuickstartConfig = field(default_factory=QuickstartConfig)

    def __post_init__(self) -> None:
        a = self.agent
        # Rare-state biasing weights one transition per copy and step; held actions store fewer.
        _require(not (self.umbrella.windows > 0 and a.type in ("fe", "afe") and a.planner.action_repeat > 1),
                 "agent.planner.action_repeat", a.planner.action_repeat,
                 "1 when umbrella.windows > 0 (rare-state biasing)")
        # Rare-state biasing needs the agent's free energy and a hook for the window bias
        # (a planner's score bias or an amortised learner's reward bias).
        s, o = a.surprise, a.online
        own = s.term == "epistemic" and self.world_model.name in MODELS_WITH_EPISTEMIC
        _require(s.term != "gain" or a.type not in ("fe", "afe"), "agent.surprise.term", s.term,
                 f"total, epistemic, aleatoric or predicted with agent.type={a.type!r}: gain is measured by "
                 f"learning real transitions (agent.type amortised or a stable-baselines3 bonus)")
        _require(s.term in ("total", "predicted", "gain") or o.ensemble >= 2 or s.draws >= 2 or own,
                 "agent.surprise.term", s.term, "total, or set agent.online.ensemble >= 2 or agent.surprise.draws >= 2 "
                 "for "
                 f"epistemic/aleatoric (or world_model.name {' or '.join(MODELS_WITH_EPISTEMIC)} for epistemic)")
        source = a.intrinsic.name
        biasable = a.type in ("fe", "afe") or (a.type == "amortised" and intrinsic_spec(source).world)
        _require(self.run.kind != "agent" or self.umbrella.windows == 0 or biasable, "umbrella.windows",
                 self.umbrella.windows, f"0 with agent.type={a.type!r}, agent.intrinsic.name={source!r}: rare-state "
                 "biasing needs agent.type fe or afe, or amortised with agent.intrinsic.name afe or fe")
        loop = ("random", "amortised", "fe", "afe")
        _require(self.run.kind != "agent" or self.restarts.every == 0 or a.type in loop, "restarts.every",
                 self.restarts.every, f"0 with agent.type={a.type!r}: restarts need an agent of the project's loop "
                 f"({', '.join(loop)}); stable-baselines3 steps the env itself")


def field_docs(cls: type = Config, prefix: str = "") -> dict[str, str]:
    """Dotted key -> docstring for every field, for ``freeenergy show --docs``."""
    return engine.field_docs(cls, prefix)


def field_table(cls: type = Config, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type name, default, docstring) for every field, in declaration order."""
    return engine.field_table(cls, prefix)


def from_dict(data: dict) -> Config:
    """The Config saved in a run's config.yaml (a plain nested mapping; the flat agent keys of 0.2 are moved)."""
    return build(Config, migrate_saved(data))
