"""The config engine: typed fields with docs, coercion of YAML values, friendly errors.

``build(cls, mapping)`` turns a nested mapping (YAML, overrides) into frozen
dataclasses, checking every key (unknown keys get a did-you-mean) and every
value against its annotation; the dataclasses' ``__post_init__`` checks the
ranges. ``to_dict``, ``field_table`` and ``field_docs`` read them back for
``config.yaml``, W&B and ``freeenergy show --docs``.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import field
from typing import Any

import yaml

from experiments.errors import UserError
from freeenergy.settings import SettingError


class ConfigError(UserError):
    """A config key or value that cannot be used; the message says why."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice (YAML keeps the last,
    silently). Merge keys (``<<: *anchor``) may still be overridden."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    continue
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first.line + 1}); a key may appear "
                        f"once per mapping", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (no Python objects), refusing duplicate keys (``yaml.YAMLError``)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass


def yaml_error_text(err: yaml.YAMLError) -> str:
    """``line L, column C: problem`` of a YAML error (its first line when it has no position)."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + (getattr(err, "problem", None) or str(err).splitlines()[0])


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
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
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
        return _coerce_int(value, key)
    if tp is float:
        return _coerce_float(value, key)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} is invalid: expected a string")
        return value
    return value


def _coerce_int(value: Any, key: str) -> int:
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


def _coerce_float(value: Any, key: str) -> float:
    if isinstance(value, str):
        # YAML 1.1 reads 1e-3 (no dot) as a string; accept what Python reads as a number.
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} is invalid: expected a number")
    return float(value)


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
    _refuse_renamed(cls, data, hints, prefix)
    for key in data:
        if key not in fields:
            raise unknown_key_error(f"{prefix}{key}", sorted(fields))
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, tp, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except SettingError as err:  # a rule of freeenergy.settings: the key is relative to this section
        raise ConfigError(f"{prefix}{err}") from None
    except TypeError as err:  # e.g. comparing a wrong type inside __post_init__
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {err}") from err


def _refuse_renamed(cls: type, data: dict, hints: dict[str, Any], prefix: str) -> None:
    """A key that moved (a section's ``__renamed__``: old key -> new dotted key) is refused in one line."""
    for old, new in getattr(cls, "__renamed__", {}).items():
        head, _, leaf = old.partition(".")
        if head not in data:
            continue
        tp = hints.get(head)
        section = isinstance(tp, type) and dataclasses.is_dataclass(tp)
        if leaf:
            present = isinstance(data[head], dict) and leaf in data[head]
        else:  # a flat key, or a key that became a section and got a plain value
            present = tp is None or (section and not isinstance(data[head], dict))
        if present:
            raise ConfigError(f"{prefix}{old} is now {new}: write {new}=... instead (the "
                              f"{prefix.rstrip('.') or 'config'} section has typed parts since 0.3)")


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


def field_docs(cls: type, prefix: str = "") -> dict[str, str]:
    """Dotted key -> docstring for every field, for ``freeenergy show --docs``."""
    return {key: text for key, _, _, text in field_table(cls, prefix)}


def field_table(cls: type, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """(dotted key, type name, default, docstring) for every field, in declaration order."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
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
