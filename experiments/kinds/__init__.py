"""The run-kind table: every ``run.kind``, the module that runs it and what the runner needs to know.

One row per kind of experiment. The runner calls the row's entry point
``run(ctx) -> summary``; the preflight probes the env only where ``needs_env``;
the run folder is named after the row's ``folder`` source; the memory guard adds
the row's ``memory`` parts to its estimate; the overall progress counts the
row's ``parts``. Nothing else in ``experiments`` knows a run kind by name.

Adding a run kind is one module with ``run(ctx) -> dict`` and one row here (or
one :func:`register_run_kind` call before the config is read). This module
imports nothing heavy: the config validates ``run.kind`` against it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from freeenergy.entry_points import load

#: Sources of a run folder's first name part (``<source>__<experiment>__<seed>__<time>``).
FOLDER_SOURCES = ("env", "data", "kind")


def _one(cfg: Any) -> int:
    return 1


@dataclass(frozen=True)
class RunKind:
    """One kind of run.

    Attributes:
        entry: ``"module:function"``, the experiment ``run(ctx) -> summary dict``.
        doc: one line for ``show --docs`` and errors.
        needs_env: the run steps ``cfg.env``: the preflight builds it once to check it.
        folder: what names the run folder: ``"env"`` (``env.id``), ``"data"`` (``data.name``)
            or ``"kind"`` (the kind's own name).
        memory: parts of :func:`experiments.guards.estimate_parts` that apply
            (``"agent"``, ``"trajectory"``, ``"data"``; env and world model always do).
        parts: runs one seed of it makes, for the overall progress (a composite run counts its parts).
        sections: the config sections the kind reads, sent to W&B as the run's config (the
            others hold only defaults it never used); empty: every section.
    """

    entry: str
    doc: str
    needs_env: bool = False
    folder: str = "env"
    memory: tuple[str, ...] = ()
    parts: Callable[[Any], int] = _one
    sections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.folder not in FOLDER_SOURCES:
            raise ValueError(f"RunKind.folder={self.folder!r} is invalid: expected one of {FOLDER_SOURCES}")


def _quickstart_parts(cfg: Any) -> int:
    return len(cfg.quickstart.runs) + 1  # each preset, and the comparison itself


_AGENT = ("run", "env", "world_model", "agent", "umbrella", "logging")
_DATA = ("run", "data", "world_model", "logging")

RUN_KINDS: dict[str, RunKind] = {
    "agent": RunKind("experiments.kinds.agent:run", "agents exploring a batched env", needs_env=True,
                     memory=("agent",), sections=_AGENT),
    "umbrella": RunKind("experiments.kinds.umbrella:run", "umbrella sampling with MBAR reweighting",
                        needs_env=True, memory=("agent", "trajectory"), sections=_AGENT),
    "generative": RunKind("experiments.kinds.generative:run", "world models trained on one data set, compared",
                          folder="data", memory=("data",), sections=(*_DATA, "generative")),
    "novelty": RunKind("experiments.kinds.novelty:run", "novelty search on a data set", folder="data",
                       memory=("data",), sections=(*_DATA, "novelty")),
    "quickstart": RunKind("experiments.kinds.quickstart:run", "agent presets side by side", folder="kind",
                          memory=("agent",), parts=_quickstart_parts, sections=("run", "quickstart", "logging")),
}


def used_config(kind: str, config: dict) -> dict:
    """The sections of a config mapping that run kind ``kind`` reads (its row's ``sections``)."""
    sections = run_kind(kind).sections
    return {k: v for k, v in config.items() if not sections or k in sections}


def register_run_kind(name: str, kind: RunKind) -> None:
    """Add a run kind (a name already taken by another row is rejected)."""
    if name in RUN_KINDS and RUN_KINDS[name] != kind:
        raise ValueError(f"run kind {name!r} is already registered (as {RUN_KINDS[name].entry})")
    RUN_KINDS[name] = kind


def kind_names() -> tuple[str, ...]:
    """Every registered ``run.kind``, in table order."""
    return tuple(RUN_KINDS)


def run_kind(name: str) -> RunKind:
    """The row of ``name``; an unknown name raises a ``ValueError`` listing the valid ones."""
    if name not in RUN_KINDS:
        raise ValueError(f"run.kind={name!r} is invalid: expected one of {', '.join(map(repr, RUN_KINDS))}")
    return RUN_KINDS[name]


def run_function(name: str) -> Callable[[Any], dict]:
    """The ``run(ctx)`` function of run kind ``name`` (imported on first use)."""
    return load(run_kind(name).entry)
