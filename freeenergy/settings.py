"""Typed settings: one vocabulary of checks for every option of the project.

A *rule* is ``(valid, check)``: what is valid, in words ("an integer >= 1"),
and a predicate. The world-model table, the PPO settings, the intrinsic
sources' options and the run config all declare their options with these
rules, so one value is checked in one place and every error reads alike::

    agent.ppo.lr=2 is invalid: expected a number in (0, 1)

A settings dataclass declares fields with :func:`setting` (default, doc,
rule) and calls :func:`check_settings` in ``__post_init__`` (or derives from
:class:`Settings`, which does). This module imports nothing heavy.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

#: ``(valid, check)``: what is valid, in words, and ``value -> bool``.
Rule = tuple[str, Callable[[Any], bool]]


class SettingError(ValueError):
    """A value a rule rejects; ``key`` is the option's name (the caller may prefix its section)."""

    def __init__(self, key: str, value: Any, valid: str) -> None:
        self.key, self.value, self.valid = key, value, valid
        super().__init__(f"{key}={value!r} is invalid: expected {valid}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def at_least(lo: float, integer: bool = False) -> Rule:
    """A number (an integer) >= ``lo``."""
    kind = "an integer" if integer else "a number"
    ok = _int if integer else _num
    return f"{kind} >= {lo:g}", lambda v: ok(v) and v >= lo


def above(lo: float) -> Rule:
    """A number > ``lo``."""
    return f"a number > {lo:g}", lambda v: _num(v) and v > lo


def between(lo: float, hi: float, closed: str = "[]") -> Rule:
    """A number in an interval; ``closed`` (e.g. ``"(]"``) says which ends count."""
    def check(v: Any) -> bool:
        return _num(v) and (v >= lo if closed[0] == "[" else v > lo) and (v <= hi if closed[1] == "]" else v < hi)
    return f"a number in {closed[0]}{lo:g}, {hi:g}{closed[1]}", check


def one_of(*names: Any) -> Rule:
    """One of ``names``."""
    return "one of " + ", ".join(map(repr, names)), lambda v: v in names


def widths() -> Rule:
    """A width >= 1, or a list of them."""
    def check(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return all(_int(h) and h >= 1 for h in v)
        return _int(v) and v >= 1
    return "an integer >= 1 or a list of them", check


def numbers(length: int | None = None) -> Rule:
    """A list of numbers (of ``length`` entries when given)."""
    text = "a list of numbers" if length is None else f"a list of {length} numbers"
    return text, lambda v: isinstance(v, (list, tuple)) and all(_num(x) for x in v) and (
        length is None or len(v) == length)


def setting(default: Any, doc: str, rule: Rule | None = None) -> Any:
    """A dataclass field with a default, a docstring and an optional rule (kept in its metadata)."""
    meta = {"doc": doc, "rule": rule}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def check_settings(obj: Any) -> None:
    """Check every field of dataclass ``obj`` that declares a rule.

    Raises:
        SettingError: the first field whose value its rule rejects.
    """
    for f in dataclasses.fields(obj):
        rule = f.metadata.get("rule")
        if rule is None:
            continue
        value = getattr(obj, f.name)
        value = list(value) if isinstance(value, tuple) else value
        if not rule[1](value):
            raise SettingError(f.name, value, rule[0])


def require(ok: bool, key: str, value: Any, valid: str) -> None:
    """A check across fields: raise :class:`SettingError` unless ``ok``."""
    if not ok:
        raise SettingError(key, value, valid)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of settings dataclasses: every field's rule is checked on construction."""

    def __post_init__(self) -> None:
        check_settings(self)


def from_mapping(cls: type, raw: dict[str, Any] | None, key: str) -> Any:
    """``cls(**raw)`` with one-line errors that name ``key.<option>`` (unknown keys included)."""
    names = [f.name for f in dataclasses.fields(cls)]
    for name in raw or {}:
        if name not in names:
            raise SettingError(f"{key}.{name}", (raw or {})[name], f"one of the keys {', '.join(names)}")
    try:
        return cls(**dict(raw or {}))
    except SettingError as err:
        raise SettingError(f"{key}.{err.key}", err.value, err.valid) from None
