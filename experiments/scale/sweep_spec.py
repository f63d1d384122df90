"""Sweep files in W&B's sweep configuration format, read and expanded into trials.

A sweep file is what ``wandb sweep`` reads (``program``, ``method``,
``metric``, ``parameters``, ``name``, ``run_cap``, ...), with the project's
dotted config keys as parameter names and the base preset as the parameter
``preset`` (a single ``value``)::

    name: sweep-exploration
    method: grid                       # grid or random
    metric: {name: coverage, goal: maximize}
    parameters:
      preset: {value: maze-afe}
      agent.type: {values: [afe, fe, random]}
      run.seed: {values: [0, 1, 2]}
      world_model.lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}   # random only

``grid`` runs every combination of ``values``; ``random`` draws ``run_cap``
configurations (a fixed random stream, so the same file always gives the same
trials and a sweep can be resumed). Seeds are the parameter ``run.seed``: its
values are crossed with every configuration in both methods, so that every
configuration has one trial per seed and the table reports spread over seeds.

Online, ``wandb sweep FILE`` + ``wandb agent`` run the same file when it has
``command: [freeenergy, run, "${args_no_hyphens}"]``: ``freeenergy run`` takes
the parameters as ``key=value`` words with ``preset=NAME`` among them.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import random
import re
from pathlib import Path
from typing import Any

import yaml

from experiments.config import Config, ConfigError, field_table
from experiments.config.engine import load_yaml, yaml_error_text
from experiments.config.presets import deep_merge, load_preset, resolve

SWEEP_DIR = Path(__file__).parents[1] / "sweeps"
TOP_KEYS = ("program", "method", "metric", "parameters", "name", "description", "project", "entity",
            "early_terminate", "command", "run_cap")
METHODS = ("grid", "random")
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform_values",
                 "q_log_uniform_values", "inv_log_uniform_values", "normal", "q_normal", "log_normal")
SEED_KEY = "run.seed"
# Config fields that are mappings: their sub-keys are free (e.g. env.kwargs.size).
OPEN_KEYS = ("env.kwargs", "agent.sb3_kwargs", "generative.overrides", "quickstart.overrides")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One run of the sweep: its parameters (without ``preset``) and its stable id."""

    params: dict[str, Any]
    tid: str

    @property
    def group(self) -> tuple:
        """The configuration this trial belongs to: every parameter but the seed."""
        return tuple((k, _hashable(v)) for k, v in self.params.items() if k != SEED_KEY)

    @property
    def folder(self) -> str:
        """Readable and unique: short values joined, then the id."""
        parts = [f"{k.rsplit('.', 1)[-1]}-{_short(v)}" for k, v in self.params.items()]
        name = re.sub(r"[^A-Za-z0-9_.=-]+", "", "_".join(parts))[:80]
        return f"{name}__{self.tid}" if name else self.tid


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    name: str
    method: str
    preset: str
    metric: str
    goal: str
    params: dict[str, dict]  # dotted key -> W&B parameter spec
    run_cap: int
    raw: dict

    @property
    def swept(self) -> list[str]:
        """Keys that take more than one value (the seed excluded)."""
        return [k for k, p in self.params.items() if k != SEED_KEY and not _is_constant(p)]


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("/", "-")[:24]


def _is_constant(p: dict) -> bool:
    return "value" in p or p.get("distribution") == "constant" or len(p.get("values", [None, None])) == 1


def find_sweep_file(name_or_path: str) -> Path:
    """A path to a sweep file, or the name of a bundled one (``experiments/sweeps/<name>.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = SWEEP_DIR / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))
    close = difflib.get_close_matches(name_or_path, names, n=2, cutoff=0.4)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ConfigError(f"sweep file {name_or_path!r} does not exist.{hint} Bundled sweeps: {', '.join(names)}")


def sweep_names() -> list[str]:
    """Names of the bundled sweeps (``experiments/sweeps/<name>.yaml``)."""
    return sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))


def describe_sweep(name: str) -> str:
    """A bundled sweep's one-line description (its ``description:``), for ``freeenergy presets``."""
    return str(load_sweep(name).raw.get("description", "")).strip()


def load_sweep(name_or_path: str) -> SweepSpec:
    """Read and check a sweep file; every problem is one :class:`ConfigError` line."""
    path = find_sweep_file(name_or_path)
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"malformed YAML in sweep file {str(path)!r}, {yaml_error_text(err)}") from err
    return parse_sweep(data, default_name=path.stem, where=str(path))


def parse_sweep(data: Any, default_name: str = "sweep", where: str = "sweep") -> SweepSpec:
    """Check a sweep mapping (W&B sweep format) and return its :class:`SweepSpec`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a sweep file must hold a mapping (method, metric, parameters), "
                          f"got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(f"{where}: unknown top-level key", key, TOP_KEYS)
    method = data.get("method", "grid")
    if method not in METHODS:
        raise ConfigError(f"{where}: method={method!r} is invalid: expected one of {', '.join(METHODS)} "
                          f"(bayes runs online with `wandb sweep` + `wandb agent`)")
    metric = data.get("metric") or {}
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise ConfigError(f"{where}: metric={metric!r} is invalid: expected {{name: SUMMARY_KEY, goal: maximize}}")
    goal = metric.get("goal", "minimize")
    if goal not in ("minimize", "maximize"):
        raise ConfigError(f"{where}: metric.goal={goal!r} is invalid: expected minimize or maximize")
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{where}: parameters={params!r} is invalid: expected a mapping of dotted config "
                          f"keys, e.g. {{preset: {{value: maze-afe}}, run.seed: {{values: [0, 1]}}}}")
    preset = params.get("preset")
    if not (isinstance(preset, dict) and isinstance(preset.get("value"), str)):
        raise ConfigError(f"{where}: missing base preset: add parameters.preset: {{value: PRESET_NAME}} "
                          f"(a single value; got {preset!r})")
    load_preset(preset["value"])  # an unknown preset is a ConfigError naming the close ones
    checked = {k: _check_param(k, v, method, where) for k, v in params.items() if k != "preset"}
    run_cap = data.get("run_cap", 0)
    if isinstance(run_cap, bool) or not isinstance(run_cap, int) or run_cap < 0:
        raise ConfigError(f"{where}: run_cap={run_cap!r} is invalid: expected an integer >= 1")
    if method == "random" and not run_cap:
        raise ConfigError(f"{where}: method 'random' needs run_cap: N (the configurations to draw)")
    name = str(data.get("name") or default_name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{where}: name={name!r} is invalid: expected letters, digits, '-', '_' or '.'")
    return SweepSpec(name=name, method=method, preset=preset["value"], metric=metric["name"], goal=goal,
                     params=checked, run_cap=run_cap, raw=copy.deepcopy(data))


def _unknown(what: str, key: str, valid: Any) -> ConfigError:
    close = difflib.get_close_matches(key, list(valid), n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return ConfigError(f"{what} {key!r}.{hint} Valid: {', '.join(valid)}")


def config_keys() -> list[str]:
    return [key for key, *_ in field_table(Config)]


def _check_param(key: str, p: Any, method: str, where: str) -> dict:
    """One parameter's W&B spec, with its key checked against the config and its form checked."""
    keys = config_keys()
    if key not in keys and not any(key.startswith(f"{o}.") for o in OPEN_KEYS):
        leaf = key.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(key, keys, n=2, cutoff=0.6) or [
            k for k in keys if k.endswith(f".{leaf}")][:2]
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"{where}: unknown config key {key!r} in parameters.{hint} "
                          f"(`freeenergy show PRESET --docs` lists them)")
    if key == "run.seeds":
        raise ConfigError(f"{where}: parameters.run.seeds is invalid in a sweep: sweep seeds with "
                          f"run.seed: {{values: [0, 1, 2]}} (one trial per seed)")
    if isinstance(p, dict) and "parameters" in p:
        raise ConfigError(f"{where}: parameters.{key} is nested: write the full dotted key instead")
    if not isinstance(p, dict):
        raise ConfigError(f"{where}: parameters.{key}={p!r} is invalid: expected {{value: X}}, "
                          f"{{values: [X, Y]}} or {{distribution: uniform, min: A, max: B}}")
    if "values" in p and (not isinstance(p["values"], list) or not p["values"]):
        raise ConfigError(f"{where}: parameters.{key}.values={p['values']!r} is invalid: expected a non-empty list")
    p = dict(p)
    if "value" not in p and "values" not in p:
        p.setdefault("distribution", _infer_distribution(p))
    dist = p.get("distribution")
    if dist is not None and dist not in DISTRIBUTIONS:
        raise _unknown(f"{where}: parameters.{key}: unknown distribution", dist, DISTRIBUTIONS)
    if dist in ("categorical",) and "values" not in p or dist == "constant" and "value" not in p:
        raise ConfigError(f"{where}: parameters.{key}: distribution {dist!r} needs "
                          f"{'values' if dist == 'categorical' else 'value'}")
    if dist not in (None, "constant", "categorical"):
        need = ("mu", "sigma") if dist in ("normal", "q_normal", "log_normal") else ("min", "max")
        for k in need:
            if isinstance(p.get(k), bool) or not isinstance(p.get(k), (int, float)):
                raise ConfigError(f"{where}: parameters.{key}.{k}={p.get(k)!r} is invalid: expected a number "
                                  f"(distribution {dist} needs {' and '.join(need)})")
        if need == ("min", "max") and not p["min"] < p["max"]:
            raise ConfigError(f"{where}: parameters.{key}: min={p['min']!r} must be below max={p['max']!r}")
        if method == "grid":
            raise ConfigError(f"{where}: parameters.{key} has distribution {dist!r}, which method 'grid' "
                              f"cannot enumerate: give values: [...] or use method: random")
    if key == SEED_KEY and "value" not in p and "values" not in p:
        raise ConfigError(f"{where}: parameters.run.seed must list its seeds: values: [0, 1, 2]")
    return p


def _infer_distribution(p: dict) -> str:
    """W&B's rule: min/max both integers -> int_uniform, else uniform; mu/sigma -> normal."""
    if "mu" in p or "sigma" in p:
        return "normal"
    ints = all(isinstance(p.get(k), int) and not isinstance(p.get(k), bool) for k in ("min", "max"))
    return "int_uniform" if ints else "uniform"


def _draw(p: dict, rng: random.Random) -> Any:
    """One value of a W&B parameter spec."""
    if "value" in p:
        return p["value"]
    if "values" in p:
        probs = p.get("probabilities")
        return rng.choices(p["values"], weights=probs)[0] if probs else rng.choice(p["values"])
    d, lo, hi, q = p["distribution"], p.get("min"), p.get("max"), p.get("q", 1)
    if d == "int_uniform":
        return rng.randint(int(lo), int(hi))
    if d in ("uniform", "q_uniform"):
        v = rng.uniform(lo, hi)
    elif d in ("log_uniform_values", "q_log_uniform_values"):
        v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    elif d == "inv_log_uniform_values":
        v = 1.0 / math.exp(rng.uniform(math.log(1.0 / hi), math.log(1.0 / lo)))
    elif d == "log_normal":
        v = math.exp(rng.gauss(p["mu"], p["sigma"]))
    else:
        v = rng.gauss(p["mu"], p["sigma"])
    return round(v / q) * q if d.startswith("q_") else v


def expand(spec: SweepSpec) -> list[Trial]:
    """Every trial of the sweep, in a fixed order (the same file always gives the same list)."""
    seeds = spec.params.get(SEED_KEY)
    seed_values = ([seeds["value"]] if "value" in seeds else list(seeds["values"])) if seeds else [None]
    others = {k: p for k, p in spec.params.items() if k != SEED_KEY}
    if spec.method == "grid":
        axes = [[p["value"]] if "value" in p else list(p["values"]) for p in others.values()]
        configs = [dict(zip(others, combo)) for combo in itertools.product(*axes)]
    else:
        rng = random.Random(int(hashlib.sha256(spec.name.encode()).hexdigest()[:8], 16))
        configs = [{k: _draw(p, rng) for k, p in others.items()} for _ in range(spec.run_cap)]
    trials = []
    for cfg in configs:
        for s in seed_values:
            params = dict(cfg) if s is None else {**cfg, SEED_KEY: s}
            tid = hashlib.sha256(json.dumps([spec.preset, params], sort_keys=True).encode()).hexdigest()[:8]
            trials.append(Trial(params=params, tid=tid))
    return trials


def nested(params: dict[str, Any]) -> dict:
    """Dotted keys -> the nested mapping the config builder reads."""
    out: dict = {}
    for key, value in params.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def trial_overrides(spec: SweepSpec, trial: Trial, extra: dict, group: str) -> dict:
    """The nested config a trial adds on top of its preset: one seed, the sweep's W&B group and tags."""
    base = {"run": {"seeds": []}, "logging": {"group": group, "tags": [f"sweep:{spec.name}"]}}
    return deep_merge(deep_merge(base, extra), nested(trial.params))


def check_trials(spec: SweepSpec, trials: list[Trial], extra: dict, debug: bool, group: str) -> None:
    """Resolve every trial's config now, so a bad value stops the sweep before anything runs."""
    for trial in trials:
        try:
            resolve(spec.preset, debug=debug, extra=trial_overrides(spec, trial, extra, group))
        except ConfigError as err:
            raise ConfigError(f"sweep {spec.name!r}, parameters {trial.params}: {err}") from err
