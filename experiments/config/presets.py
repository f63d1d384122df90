"""YAML presets shipped in the package, dotted overrides, and the resolved Config.

A preset file ``presets/<name>.yaml`` holds::

    description: one line shown by ``freeenergy presets``
    base: another-preset        # optional: inherit its config and debug
    config: {run: {...}, env: {...}, ...}
    debug:  {run: {steps: 50}}  # merged on top for the tiny test size (--debug)

Merging is in order: dataclass defaults < base preset < preset < debug < overrides.

Security: files are read with a ``yaml.SafeLoader`` (no Python objects) that
also refuses a key given twice, and nothing is ``eval``-ed. A config may still name code to import, by design:
``env.id: package.module:Class`` or ``env.map_xy: module:function`` plug in
user environments, so only run configs you trust.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

import yaml

from experiments.config import Config, ConfigError, build
from experiments.config.engine import load_yaml, yaml_error_text

PRESET_DIR = Path(__file__).parents[1] / "presets"


def preset_names() -> list[str]:
    """Names of the bundled presets (files ``presets/<name>.yaml``)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err.strerror}") from err
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"malformed YAML in {str(path)!r}, {yaml_error_text(err)}") from err
    if data is None:
        raise ConfigError(f"config file {str(path)!r} is empty (nothing but blanks or comments): there is nothing "
                          f"to run; start from a preset, e.g. `freeenergy show maze-afe > {path.name}`")
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} must hold a mapping with keys description/config/debug, "
                          f"got {type(data).__name__}")
    preset_keys = {"description", "base", "config", "debug"}
    extra = set(data) - preset_keys
    if extra and not (set(data) & preset_keys):
        # A bare config (sections at the top, no 'config:' wrapper) is accepted too.
        return {"config": data}
    if extra:
        key = sorted(extra)[0]
        close = difflib.get_close_matches(key, sorted(preset_keys), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{str(path)!r}: unknown top-level key {key!r}.{hint} "
                          f"Valid keys: {', '.join(sorted(preset_keys))}")
    return data


def deep_merge(base: dict, top: dict) -> dict:
    """Nested dict merge; ``top`` wins; mappings merge key by key."""
    out = copy.deepcopy(base)
    for key, value in (top or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_preset(name_or_path: str, _seen: tuple[tuple[str, str], ...] = ()) -> tuple[str, dict, dict, str]:
    """Return (name, config dict, debug dict, description) with ``base`` inheritance resolved.

    ``_seen``: (resolved path, name) of the files that inherit from this one, to refuse a cycle.
    """
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file {name_or_path!r} does not exist")
        name = path.stem
    else:
        path = PRESET_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            close = difflib.get_close_matches(name_or_path, preset_names(), n=3, cutoff=0.4)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"unknown preset {name_or_path!r}.{hint} Available: {', '.join(preset_names())}")
        name = name_or_path
    where = str(path.resolve())
    if any(where == seen for seen, _ in _seen):
        chain = " -> ".join([n for _, n in _seen] + [str(name_or_path)])
        raise ConfigError(f"preset {name!r} inherits from itself through {chain}; break the cycle of base:")
    data = _read_yaml(path)
    config, debug = data.get("config") or {}, data.get("debug") or {}
    for key, value in (("config", config), ("debug", debug)):
        if not isinstance(value, dict):
            raise ConfigError(f"{str(path)!r}: '{key}' must be a mapping, got {value!r}")
    if data.get("base"):
        base = str(data["base"])
        if base.endswith((".yaml", ".yml")) and not Path(base).is_absolute():
            base = str(path.resolve().parent / base)  # a file base is relative to the file naming it
        _, bconfig, bdebug, _ = load_preset(base, _seen + ((where, str(name_or_path)),))
        config, debug = deep_merge(bconfig, config), deep_merge(bdebug, debug)
    return name, config, debug, str(data.get("description", "")).strip()


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], value parsed as YAML: numbers, lists, true/false, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value (e.g. env.num_envs=256)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key; write section.key=value")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.constructor.ConstructorError as err:  # valid YAML, but a key twice: refuse, do not guess
        raise ConfigError(f"override {text!r}: {err.problem}") from None
    except yaml.YAMLError:
        value = raw  # a plain string that is not valid YAML, e.g. 'a: b: c'
    return key.split("."), value


def overrides_to_dict(overrides: list[str]) -> dict:
    out: dict = {}
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r} conflicts with an earlier override of {part!r}")
        node[parts[-1]] = value
    return out


def resolve(name_or_path: str, overrides: list[str] = (), debug: bool = False, extra: dict | None = None) -> Config:
    """The typed Config of a preset (or YAML file) with overrides applied.

    Order: dataclass defaults < ``base`` chain < preset ``config`` < ``debug``
    (when asked) < ``extra`` (a nested mapping) < dotted overrides. Every key
    and value is validated.
    """
    name, config, debug_cfg, _ = load_preset(name_or_path)
    if debug and not debug_cfg:
        raise ConfigError(f"--debug has no effect on {name_or_path!r}: neither it nor a base: preset has a debug: "
                          f"section; add one (config: {{...}} and debug: {{run: {{steps: 50}}}}) or drop --debug")
    merged = deep_merge(config, debug_cfg) if debug else config
    merged = deep_merge(merged, extra or {})
    given = overrides_to_dict(list(overrides))
    for source in (extra or {}, given):
        run = source.get("run") if isinstance(source.get("run"), dict) else {}
        if "seed" in run and run.get("seeds"):
            raise ConfigError(f"run.seed={run['seed']!r} and run.seeds={run['seeds']!r} are both given: expected one "
                              f"of them (run.seed for one seed, run.seeds=[...] for several)")
    merged = deep_merge(merged, given)
    merged.setdefault("run", {})
    if not isinstance(merged["run"], dict):
        raise ConfigError(f"run={merged['run']!r} is invalid: expected a mapping of keys")
    merged["run"].setdefault("name", name)
    return build(Config, merged)


def describe(name: str) -> str:
    return load_preset(name)[3]
