"""Config sections of what a run acts on: the run, the env, the world model (the agent: :mod:`.agent`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from experiments import kinds
from experiments.config.engine import ConfigError, _one_of, _require, doc
from freeenergy import model_table as wm_table

#: Longest ``run.name``: the run folder ``<env>__<name>__<seed>__<time>`` stays within file-name limits.
MAX_NAME = 100
#: Most cells ``env.map_grid`` may ask for (coverage keeps a bit per copy and cell).
MAX_MAP_CELLS = 1 << 22


@dataclass(frozen=True)
class RunConfig:
    kind: str = doc("agent", f"Experiment kind: {', '.join(kinds.kind_names())}.")
    name: str = doc("", "Experiment name (the preset's name by default); part of the run folder name.")
    seed: int = doc(0, "Seed for torch, numpy and the environments; the same seed on CPU gives the same summary.")
    seeds: tuple[int, ...] = doc((), "Several seeds: the run repeats once per seed and reports mean and spread.")
    steps: int = doc(2000, "Environment steps per environment copy (agent and umbrella runs).")
    out_root: str = doc("runs", "Folder under which run folders are created (unless --out names one).")
    checkpoint_every: int = doc(500, "Write a checkpoint every this many env steps, for `freeenergy resume` "
                                "after a crash (0: only at the end and on interrupt).")
    threads: int = doc(0, "Torch CPU threads (0: torch's default). Results depend on it only through float rounding.")

    def __post_init__(self) -> None:
        _one_of("run.kind", self.kind, kinds.kind_names())
        _require(self.steps >= 1, "run.steps", self.steps, "an integer >= 1")
        _require(self.checkpoint_every >= 0, "run.checkpoint_every", self.checkpoint_every, "an integer >= 0")
        _require(self.seed >= 0, "run.seed", self.seed, "an integer >= 0")
        _require(all(s >= 0 for s in self.seeds), "run.seeds", list(self.seeds), "a list of integers >= 0")
        _require(len(set(self.seeds)) == len(self.seeds), "run.seeds", list(self.seeds), "distinct seeds")
        _require(self.threads >= 0, "run.threads", self.threads, "an integer >= 0")
        _require(bool(self.out_root), "run.out_root", self.out_root, "a folder name")
        bad = [c for c in self.name if c in '/\\:*?"<>|' or not c.isprintable()]
        _require(not bad, "run.name", self.name, "a name without / \\ : * ? \" < > | or control characters")
        if len(self.name) > MAX_NAME:  # it names the run folder, whose name the file system limits
            raise ConfigError(f"run.name={self.name[:40]!r}... ({len(self.name)} characters) is invalid: expected "
                              f"at most {MAX_NAME} characters (it is part of the run folder's name)")



@dataclass(frozen=True)
class EnvConfig:
    id: str = doc("freeenergy/GridMaze-v0", "Project id, Gymnasium id (e.g. MountainCar-v0) or 'package.module:Class'.")
    num_envs: int = doc(16, "Batched environment copies stepped at once.")
    device: str = doc("cpu", "Torch device for environments, models and agents: cpu, cuda, cuda:N or auto.")
    kwargs: dict = doc({}, "Keyword arguments passed to the environment constructor.")
    map_xy: Any = doc(None, "Map coordinate of a plugged-in env: observation indices [i, j], or 'module:function'.")
    map_grid: tuple[int, ...] = doc((), "Cells [nx, ny] that coverage counts on a plugged-in env's map; empty: the "
                                    "env's own grid_shape, else one read from a Discrete, MultiDiscrete or integer "
                                    "Box observation space (a guess, said in the summary), else 32x32.")
    vector: str = doc("sync", "Gymnasium vector backend for plugged-in envs: sync or async.")
    terminal_is_success: bool = doc(False, "Plugged-in Gymnasium envs without info['is_success']: count an episode "
                                    "ended by termination as a success (goal-reaching envs such as MountainCar; "
                                    "not CartPole, whose termination is a failure). Without it success_rate is "
                                    "not reported for such envs.")

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
        g = self.map_grid
        _require(not g or (len(g) == 2 and min(g) >= 1 and g[0] * g[1] <= MAX_MAP_CELLS), "env.map_grid", list(g),
                 f"empty, or two cell counts [nx, ny] >= 1 with nx * ny <= {MAX_MAP_CELLS}")


def _world_model_fields() -> list[tuple[str, Any, Any]]:
    """The ``world_model`` section: ``name``, every option of the world-model table, ``batch_size``."""
    names = ", ".join(wm_table.model_names())
    fields: list[tuple[str, Any, Any]] = [("name", str, doc("rae", f"World model: {names}."))]
    for key, opt in wm_table.OPTIONS.items():
        fields.append((key, opt.type, doc(opt.default, opt.doc)))
        if key == "lr":
            fields.append(("batch_size", int, doc(128, "Minibatch size of world-model steps.")))
    return fields


def _check_world_model(self: Any) -> None:
    _one_of("world_model.name", self.name, wm_table.model_names())
    for key in wm_table.OPTIONS:
        value = getattr(self, key)
        valid = wm_table.check_value(key, list(value) if isinstance(value, tuple) else value)
        _require(valid is None, f"world_model.{key}", value, valid or "")
    _require(self.batch_size >= 1, "world_model.batch_size", self.batch_size, "an integer >= 1")


if TYPE_CHECKING:
    class WorldModelConfig:
        """For type checkers: the options are generated from the table at run time."""

        name: str
        batch_size: int

        def __init__(self, **settings: Any) -> None: ...

        def __getattr__(self, key: str) -> Any: ...
else:
    #: The ``world_model`` section, generated from :mod:`freeenergy.model_table` (one definition of
    #: every option's name, type, default, doc and valid range).
    WorldModelConfig = dataclasses.make_dataclass(
        "WorldModelConfig", _world_model_fields(), frozen=True,
        namespace={"__post_init__": _check_world_model, "__module__": __name__,
                   "__doc__": "World-model settings; the options are those of freeenergy.model_table."})
