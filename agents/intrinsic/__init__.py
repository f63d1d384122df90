"""Intrinsic rewards: one protocol, one table of sources, for every learner.

A *source* (:class:`agents.intrinsic.base.IntrinsicSource`) scores a batch of
real transitions ``(B,)`` and learns from what it scored; a source may also
train on each minibatch of a policy update (RND does). The amortised agent
scores whole rollouts with it (``T`` steps x ``N`` copies), the
stable-baselines3 wrapper (:mod:`agents.bonus`) each vec step.

``SOURCES`` is the table: name -> :class:`SourceSpec` (the class, one line of
docs, the sign with which its score enters the reward, what it needs from the
run, and the name of its typed options). ``agent.intrinsic.name`` picks a row;
``agent.intrinsic.<options>`` holds the row's options. Adding a source is one
class with a ``build`` classmethod and one row (or :func:`register_source`).
This module imports no torch: the config reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freeenergy.settings import Settings, at_least, between, one_of, setting

OBJECTIVES = ("maximise", "minimise")


TERMS = ("total", "epistemic", "aleatoric", "predicted", "gain")


@dataclass(frozen=True)
class SurpriseOptions(Settings):
    """How a world model's surprise is measured (planners and the ``afe`` / ``fe`` sources alike)."""

    term: str = setting("total", "Surprise term: total (free energy of the transition), epistemic (disagreement "
                        "of the ensemble or of noise draws about obs_t+1), aleatoric (total - epistemic), "
                        "predicted (the surprise head's estimate) or gain (the free energy the model loses by "
                        "learning the transitions: sqrt of the prediction gain, a pseudo-count bonus; amortised "
                        "agents); see agents/terms.py.", one_of(*TERMS))
    draws: int = setting(1, "Completions per member and transition (noise draws).", at_least(1, True))
    fe_draws: int = setting(1, "Noise draws of the free energy of each transition.", at_least(1, True))
    code_penalty: bool = setting(True, "term=total: keep the code penalty in the surprise (false: the "
                                 "reconstruction error alone, a part that falls with the visits).")
    complete_init: str = setting("obs", "Starting guess of the predicted obs_t+1: obs (no change) or mean "
                                 "(the running mean observation).", one_of("obs", "mean"))


@dataclass(frozen=True)
class RNDOptions(Settings):
    """Random network distillation (Burda et al. 2018): a fixed random target, a deeper trained predictor."""

    hidden: int = setting(64, "Width of the hidden layers of target and predictor.", at_least(1, True))
    out_dim: int = setting(32, "Width of the embedding the predictor learns to match.", at_least(1, True))
    target_depth: int = setting(1, "Hidden layers of the fixed random target.", at_least(1, True))
    predictor_depth: int = setting(3, "Hidden layers of the predictor (deeper than the target, as published).",
                                   at_least(1, True))
    lr: float = setting(1e-4, "Adam learning rate of the predictor.", between(0, 1, "()"))
    fraction: float = setting(0.25, "Share of each policy minibatch (or scored batch) the predictor trains on.",
                              between(0, 1, "(]"))


@dataclass(frozen=True)
class PopulationOptions(Settings):
    """Novelty search (Lehman & Stanley 2011) in the world model's space: kNN distance to an archive and the rollout."""

    k: int = setting(10, "Nearest neighbours averaged.", at_least(1, True))
    archive: int = setting(8192, "Transitions kept in the archive (a uniform reservoir sample of all scored).",
                           at_least(1, True))
    space: str = setting("input", "Where distances are measured: input (the world model's input features of the "
                         "next observation; with agent.online.fourier they keep neighbouring places apart) or code "
                         "(the code its encoder gives the transition).", one_of("input", "code"))


@dataclass(frozen=True)
class EpisodicOptions(Settings):
    """Episodic novelty (E3B / NGU) on top of the source: its score times a per-copy elliptical episode bonus."""

    on: bool = setting(False, "Multiply the source's score by each copy's episodic bonus phi^T C^-1 phi (C: the "
                       "feature covariance of the copy's episode so far).")
    ridge: float = setting(0.1, "C's start, ridge * I (smaller: the first visits count more).", between(0, 1e6, "(]"))


@dataclass(frozen=True)
class SourceSpec:
    """One intrinsic source.

    Attributes:
        entry: ``"module:Class"``; the class has ``build(*, env, options, world, device, generator)``.
        doc: one line for ``show --docs``.
        objective: ``"maximise"``: the score is rewarded (novelty, adversarial free energy);
            ``"minimise"``: it is penalised (free energy).
        world: the source is the online world model's surprise (it needs one, and takes the
            agent's :class:`SurpriseOptions` as its options; rare-state biasing and latent maps use it).
        needs_map: it needs the env's map cells (``env.map_cells``).
        model: it measures in an online world model's space (one is built for it; not a surprise).
        options: the key of its options under ``agent.intrinsic`` (a ``Settings`` class in ``OPTIONS``).
    """

    entry: str
    doc: str
    objective: str = "maximise"
    world: bool = False
    needs_map: bool = False
    model: bool = False
    options: str | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"SourceSpec.objective={self.objective!r} is invalid: expected one of {OBJECTIVES}")


_SURPRISE = "agents.intrinsic.surprise:WorldModelSurprise"

#: Options sections of the sources: ``agent.intrinsic.<key>``.
OPTIONS: dict[str, type] = {"rnd": RNDOptions, "population": PopulationOptions, "episodic": EpisodicOptions}

SOURCES: dict[str, SourceSpec] = {
    "afe": SourceSpec(_SURPRISE, "the world model's surprise (agent.surprise.term), maximised: adversarial "
                      "free energy", "maximise", world=True),
    "fe": SourceSpec(_SURPRISE, "the world model's surprise, minimised: free energy", "minimise", world=True),
    "rnd": SourceSpec("agents.intrinsic.rnd:RND", "random network distillation as published (Burda et al. 2018)",
                      options="rnd"),
    "population": SourceSpec("agents.intrinsic.population:PopulationNovelty", "novelty search: kNN distance of "
                             "each transition to an archive and the current rollout, in the world model's input "
                             "or code space (Lehman & Stanley 2011)", model=True, options="population"),
    "count": SourceSpec("agents.intrinsic.counts:CountBonus", "1/sqrt(n) of the map cell reached, exact counts "
                        "(an oracle on grid worlds)", needs_map=True),
    "none": SourceSpec("agents.intrinsic.base:NoBonus", "no intrinsic reward"),
}


def register_source(name: str, spec: SourceSpec, options: type | None = None) -> None:
    """Add a source (and its options class under ``spec.options``); taken names are rejected."""
    if name in SOURCES and SOURCES[name] != spec:
        raise ValueError(f"intrinsic source {name!r} is already registered (as {SOURCES[name].entry})")
    if spec.options is not None:
        if options is None and spec.options not in OPTIONS:
            raise ValueError(f"intrinsic source {name!r} names options {spec.options!r}: pass their class")
        if options is not None:
            if spec.options in OPTIONS and OPTIONS[spec.options] is not options:
                raise ValueError(f"options {spec.options!r} are already registered with another class")
            OPTIONS[spec.options] = options
    SOURCES[name] = spec


def source_names() -> tuple[str, ...]:
    """Every registered source, in table order."""
    return tuple(SOURCES)


def spec(name: str) -> SourceSpec:
    """The row of source ``name``; a ``ValueError`` names the valid ones."""
    if name not in SOURCES:
        raise ValueError(f"agent.intrinsic.name={name!r} is invalid: expected one of "
                         f"{', '.join(map(repr, SOURCES))}")
    return SOURCES[name]


def describe() -> str:
    """``name (doc), ...`` for the config docs."""
    return "; ".join(f"{n} ({s.doc})" for n, s in SOURCES.items())


def build_source(name: str, *, env: Any, options: Any = None, world: Any = None, device: Any,
                 generator: Any = None) -> Any:
    """Source ``name`` for ``env``'s transitions (its class's ``build``)."""
    from freeenergy.entry_points import load

    row = spec(name)
    if row.world and world is None:
        raise ValueError(f"intrinsic source {name!r} needs an online world model")
    if row.needs_map and getattr(env, "map_cells", None) is None:
        raise ValueError(f"intrinsic source {name!r} needs the env's map cells (env.map_xy)")
    return load(row.entry).build(env=env, options=options, world=world, device=device, generator=generator)
