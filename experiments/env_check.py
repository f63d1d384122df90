"""Build one copy of a config's environment before a run, so that what cannot work is one line.

A bad id, entry point, kwarg or space; a plug-in module that raises at import,
has a syntax error or calls ``sys.exit``; a constructor that raises or a
factory that returns None; ``reset``/``step`` that return the wrong shapes or
tuples, or non-finite observations (named as the env's fault): each becomes a
:class:`~experiments.config.ConfigError` naming ``env.id``.
"""
from __future__ import annotations

from typing import Any

import torch

from experiments.config import Config, ConfigError


def check_env(cfg: Config) -> dict[str, int]:
    """Build one copy of ``env``, reset it and step it once, so that a bad id, entry point,
    kwarg, space, a plug-in that raises, or one whose reset/step return the wrong thing
    becomes a ConfigError. Returns the observation and action sizes and the map's cells (for the memory estimate).

    An entry point (``package.module:Class``) imports user code: by design, a
    config can plug in any environment.
    """
    from experiments.build import make_env

    where = f"env.id={cfg.env.id!r}" + (f" (env.kwargs={cfg.env.kwargs!r})" if cfg.env.kwargs else "")
    try:
        env = make_env(cfg, "cpu", num_envs=1)
    except ConfigError:
        raise
    except (Exception, SystemExit) as err:  # user code: import errors, syntax errors, sys.exit, its own bugs
        raise ConfigError(f"{where} cannot be built: {_one_line(err)}{install_hint(err)}") from err
    try:
        probe_env(env, where)
        if cfg.env.map_xy is None:
            warn_dict_without_map(env, where)
        return {"obs_dim": int(env.obs_dim), "act_dim": int(env.action_dim),
                "num_cells": int(getattr(env, "num_cells", 0) or 0)}
    finally:
        try:
            env.close()
        except Exception:  # closing a probe env is best effort
            pass


#: Optional packages and the extra that installs them.
EXTRAS = {"minigrid": "minigrid", "ray": "sweep"}


def install_hint(err: BaseException) -> str:
    """``; install it with pip install 'freeenergy[EXTRA]'`` when ``err`` is a missing optional package."""
    for e in (err, err.__cause__, err.__context__):
        name = getattr(e, "name", None) or ""
        if isinstance(e, ImportError) and name.split(".")[0] in EXTRAS:
            return f"; it needs the optional package {name.split('.')[0]!r}: pip install " \
                   f"'freeenergy[{EXTRAS[name.split('.')[0]]}]'"
    return ""


def flat_names(space: Any, prefix: str = "") -> list[str]:
    """Names of the entries of a flattened observation: ``key[i]`` for Dict entries, ``[i]`` else."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return [n for k, sub in space.spaces.items() for n in flat_names(sub, f"{prefix}{k}")]
    if isinstance(space, spaces.Tuple):
        return [n for i, sub in enumerate(space.spaces) for n in flat_names(sub, f"{prefix}{i}.")]
    return [f"{prefix}[{i}]" for i in range(int(spaces.flatdim(space)))]


def warn_dict_without_map(env: Any, where: str) -> None:
    """A Dict/Tuple observation mapped by its first two flattened entries is rarely a position: say so."""
    import warnings

    from gymnasium import spaces

    space = getattr(env, "original_observation_space", None)
    if not isinstance(space, (spaces.Dict, spaces.Tuple)):
        return
    names = flat_names(space)
    shown = ", ".join(f"{i}: {n}" for i, n in enumerate(names[:24])) + (" ..." if len(names) > 24 else "")
    warnings.warn(f"{where}: a {type(space).__name__} observation and no env.map_xy, so maps plot flattened "
                  f"entries 0 and 1 ({names[0]}, {names[1] if len(names) > 1 else '-'}); set env.map_xy=[i, j] "
                  f"to the position entries. Flattened entries: {shown}", UserWarning, stacklevel=2)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def probe_env(env: Any, where: str) -> None:
    """One reset and one step of a single-copy env: shapes ``(1, obs_dim)`` and finite values.

    Raises:
        ConfigError: naming the env and what it returned (a NaN observation is the env's fault).
    """
    try:
        obs = env.reset(seed=0)
        check_obs(obs, env, where, "reset")
        out = env.step(env.sample_actions())
        if not isinstance(out, tuple) or len(out) != 5:
            raise ConfigError(f"{where}: step() returned {type(out).__name__}"
                              f"{f' of {len(out)}' if isinstance(out, tuple) else ''}; expected "
                              f"(obs, reward, terminated, truncated, info)")
        check_obs(out[0], env, where, "step")
        xy = getattr(env, "last_info", {}).get("map_xy")
        if isinstance(xy, torch.Tensor) and not bool(torch.isfinite(xy.float()).all()):
            raise ConfigError(f"{where}: the map coordinate (env.map_xy or the env's info['map_xy']) is not "
                              f"finite: {xy.tolist()}; fix the map_xy function or pick two finite entries")
    except ConfigError:
        raise
    except (Exception, SystemExit) as err:
        raise ConfigError(f"{where}: reset/step of one copy failed: {_one_line(err)}") from err


def check_obs(obs: Any, env: Any, where: str, what: str) -> None:
    """``obs`` is a ``(num_envs, obs_dim)`` tensor of finite numbers, else a ConfigError."""
    shape = tuple(getattr(obs, "shape", ()))
    if not isinstance(obs, torch.Tensor) or shape != (env.num_envs, env.obs_dim):
        raise ConfigError(f"{where}: {what}() returned {type(obs).__name__} of shape {shape}; expected a tensor "
                          f"of shape ({env.num_envs}, {env.obs_dim}) (copies, observation size)")
    if not bool(torch.isfinite(obs.float()).all()):
        raise ConfigError(f"{where}: {what}() returned non-finite observations (NaN or inf): the environment "
                          f"is at fault, not the agent; fix the env (or its env.kwargs)")
