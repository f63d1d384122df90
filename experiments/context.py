"""RunContext: what an experiment function receives from the runner.

An experiment is ``run(ctx) -> dict``: it reads ``ctx.cfg``, works on
``ctx.device``, reports through ``ctx.log`` / ``ctx.save_figure`` /
``ctx.save_array``, checkpoints through ``ctx.save_checkpoint`` and returns
its summary; the runner writes the summary, the config and the logs. Nothing
here knows which experiment is running.

Checkpoint contract: ``ctx.save_checkpoint(state)`` with ``state["step"]`` the
last env step whose work (and logging) is done. ``freeenergy resume`` hands
the same ``state`` back from ``ctx.load_checkpoint()``, drops the
``metrics.jsonl`` rows after that step, and restores the global RNGs (python,
numpy, torch) as they were when the checkpoint was written.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from experiments.config import Config, ConfigError, to_dict
from experiments.errors import CheckpointError
from experiments.guards import DivergenceGuard
from experiments.io.logger import Logger
from experiments.io.progress import PartBar
from experiments.io.run_folder import record, refuse_symlink, temp_name, write_new

CHECKPOINT_FORMAT = 1


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"env.device={name!r} is invalid: expected cpu, cuda, cuda:N, mps or auto") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"env.device={name!r} but CUDA is not available here; use env.device=cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"env.device={name!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"env.device={name!r} but MPS is not available here; use env.device=cpu or auto")
    return dev


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, then rename: a reader never sees half a file."""
    path = Path(path)
    refuse_symlink(path)  # replacing a link would drop the user's link; never write through one
    tmp = temp_name(path)
    try:
        write_new(tmp, data, sync=True)
        os.replace(tmp, path)
        record(path)
    finally:
        tmp.unlink(missing_ok=True)


def rng_state() -> dict:
    """The global RNG states (python, numpy, torch CPU and CUDA) in a form ``weights_only`` loading accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()  # model noise drawn on the GPU
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available() \
            and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))


def weights_only_safe(obj: Any) -> Any:
    """numpy arrays -> tensors and numpy scalars -> Python numbers, recursively, so that
    ``torch.load(weights_only=True)`` accepts the result (numpy RNG states, counters)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: weights_only_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [weights_only_safe(v) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def content_digest(obj: Any) -> str:
    """SHA-256 of a checkpoint's contents (tensor bytes, dtypes, shapes, numbers, strings, keys),
    independent of how ``torch.save`` lays them out, so a flipped byte of tensor data shows."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)};".encode())
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)};".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def _check_digest(data: dict, path: Path) -> None:
    """A checkpoint that carries a SHA-256 must still match it (older ones carry none)."""
    stored = data.get("sha256")
    if stored is None:
        return
    if content_digest({k: v for k, v in data.items() if k != "sha256"}) != stored:
        raise CheckpointError(f"checkpoint {str(path)!r} is damaged: its contents no longer match the SHA-256 "
                              f"stored when it was written (the file changed on disk); start the run again with "
                              f"`freeenergy run {path.parent / 'config.yaml'} --out {path.parent} --overwrite`")


def load_checkpoint_file(path: Path) -> dict:
    """Read a checkpoint written by :meth:`RunContext.save_checkpoint` (``weights_only=True``).

    Raises:
        CheckpointError: the file is missing, truncated, corrupt or not ours.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}: the run stopped before writing one, so there "
                              f"is nothing to resume; start it again with `freeenergy run`")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, random bytes, pickled code that weights_only refuses
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or unreadable ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); delete the run folder and "
                              f"start again with `freeenergy run`") from err
    if not (isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT and "state" in data):
        raise CheckpointError(f"{str(path)!r} is not a freeenergy run checkpoint (expected a mapping with "
                              f"format={CHECKPOINT_FORMAT}, step and state)")
    _check_digest(data, path)
    return data


@dataclass
class RunContext:
    """Everything an experiment needs; see the module docstring for the contract."""

    cfg: Config
    out_dir: Path
    device: torch.device
    seed: int
    logger: Logger
    quiet: bool = False
    resume_state: dict | None = None
    resume_rng: dict | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    last_step: int = -1
    progressed: bool = False  # set by the first log or checkpoint: the run has moved past its start
    _divergence: Any = field(default_factory=lambda: DivergenceGuard(), repr=False)

    # -- reporting -----------------------------------------------------------------
    def log(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        """Namespaced scalars (``env/...``, ``world_model/...``, ``agent/...``, ``explore/...``).

        ``axis``: a prefix whose metrics have their own step axis that restarts (one per
        generative model); W&B then plots them against ``<axis>/step`` so no curve is dropped.
        Raises FloatingPointError when a loss is not finite or has blown up (see guards).
        """
        self.progressed = True
        if axis is None:
            self.last_step = max(self.last_step, int(step))
        self.logger.log_scalars(metrics, step, axis=axis)
        self._divergence.check(metrics, step)

    def save_figure(self, fig: Any, name: str, step: int | None = None) -> Path:
        """Save a matplotlib figure as ``out_dir/<name>.png`` (and send it to W&B as ``maps/<name>``).

        The PNG holds the latest drawing; W&B keeps one per ``step``. The figure
        is closed afterwards.
        """
        import matplotlib.pyplot as plt

        path = self.out_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(temp_name(path).name + ".png")  # matplotlib picks the format by suffix
        try:
            # A figure with a layout engine is already laid out; "tight" would render it twice.
            tight = fig.get_layout_engine() is None if hasattr(fig, "get_layout_engine") else True
            fig.savefig(tmp, dpi=100, bbox_inches="tight" if tight else None)
            refuse_symlink(path)
            os.replace(tmp, path)
        finally:
            plt.close(fig)
            tmp.unlink(missing_ok=True)
        record(path)
        # W&B keys of figures live under maps/ so they never collide with summary figures
        # of the same name (e.g. the coverage curve and the final coverage).
        self.logger.log_image(name if "/" in name else f"maps/{name}", path, step)
        return path

    def save_array(self, name: str, array: Any) -> Path:
        """Save ``array`` as ``out_dir/<name>.npy`` (atomically)."""
        if hasattr(array, "detach"):
            array = array.detach().cpu().numpy()
        path = self.out_dir / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.asarray(array))
        atomic_write_bytes(path, buf.getvalue())
        return path

    def save_text(self, name: str, text: str) -> Path:
        """Write ``out_dir/<name>`` (UTF-8, atomically), e.g. ``table.md``."""
        path = self.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode())
        return path

    def progress(self, total: int, desc: str, **kwargs: Any) -> tqdm:
        """A progress bar; silent with ``--quiet`` / ``logging.quiet`` or when stderr is not a TTY.
        It also feeds the command's overall progress (see :mod:`experiments.io.progress`).

        Put rates and figures on it with ``bar.set_postfix(fe=..., coverage=...)``.
        """
        disable = self.quiet or self.cfg.logging.quiet or not sys.stderr.isatty()
        kwargs.setdefault("mininterval", 0.5)
        return PartBar(total=total, desc=desc, disable=disable, dynamic_ncols=True, leave=False, **kwargs)

    # -- checkpoints -----------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def save_checkpoint(self, state: dict, by_rows: bool = False) -> Path:
        """Atomically write ``state`` to ``checkpoint.pt`` (temp file, fsync, rename).

        ``state`` holds tensors, numbers, strings, lists and dicts (what
        ``torch.load(weights_only=True)`` reads back); ``state["step"]`` is the
        last finished env step (the last logged step when absent).
        ``by_rows``: on resume keep exactly the metric rows written so far
        (for runs whose step axis restarts, such as one per generative model)
        instead of the rows up to ``step``.
        """
        self.progressed = True
        step = int(state.get("step", self.last_step))
        buf = io.BytesIO()
        ckpt = {"format": CHECKPOINT_FORMAT, "step": step, "seed": self.seed, "rng": rng_state(),
                "config_yaml": yaml.safe_dump(to_dict(self.cfg), sort_keys=True),
                "state": weights_only_safe(state)}
        if by_rows:
            ckpt["metrics_rows"] = int(getattr(self.logger, "rows", 0))
        ckpt["sha256"] = content_digest(ckpt)  # checked on resume: a damaged file is refused
        torch.save(ckpt, buf)
        data = buf.getvalue()
        try:  # fail now, with the reason, rather than at resume time
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:
            raise TypeError(f"checkpoint state cannot be read back with torch.load(weights_only=True): "
                            f"{str(err).splitlines()[-1]}; store only tensors, numbers, strings, lists, "
                            f"tuples and dicts") from err
        atomic_write_bytes(self.checkpoint_path, data)
        return self.checkpoint_path

    def load_checkpoint(self) -> dict | None:
        """The state to resume from (set by ``freeenergy resume``), or None for a fresh run."""
        return self.resume_state

    def restore_rng(self) -> None:
        """Set the global RNGs back to the checkpoint's again, for an experiment that drew from
        them while rebuilding its objects (model initialisation) before loading their state."""
        if self.resume_rng is not None:
            set_rng_state(self.resume_rng)


#: Settings a resumed run may change: where and how it logs, how long it runs, threads, device.
RESUME_MAY_CHANGE = ("logging.", "run.steps", "run.threads", "env.device")


def check_resume_config(cfg: Config, ckpt: dict, run_dir: Path) -> None:
    """Refuse to resume when config.yaml was edited since the checkpoint in a way that changes the run.

    Raises:
        CheckpointError: names the first changed key with both values.
    """
    text = ckpt.get("config_yaml")
    if not isinstance(text, str):
        return  # a checkpoint from before configs were stored in it
    try:
        then = flat_config(yaml.safe_load(text))
    except yaml.YAMLError:
        return
    now = flat_config(yaml.safe_load(yaml.safe_dump(to_dict(cfg), sort_keys=True)))
    for key in sorted(set(then) | set(now)):
        if key.startswith(RESUME_MAY_CHANGE) or then.get(key) == now.get(key):
            continue
        raise CheckpointError(f"{key} is {now.get(key)!r} in {str(run_dir / 'config.yaml')!r} but the checkpoint "
                              f"was written with {then.get(key)!r}; resume needs the config the run started "
                              f"with (set it back, or start a new run)")


def flat_config(d: Any, prefix: str = "") -> dict:
    """``{"section.key": value}`` of a config mapping (one level of sections; non-mappings give {})."""
    if not isinstance(d, dict):
        return {}
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict) and prefix == "":
            out.update(flat_config(v, f"{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class MemoryContext(RunContext):
    """A run context that writes nothing: logged rows, figures' names and checkpoints stay in memory.

    What :func:`experiments.driver.run_agent` uses without a run folder (tests, notebooks):
    ``rows`` holds every logged row (``{"step": ..., **metrics}``), ``checkpoint`` the last state.
    """

    def __init__(self, cfg: Config, device: torch.device, seed: int) -> None:
        super().__init__(cfg=cfg, out_dir=Path("."), device=device, seed=seed, logger=None, quiet=True)  # type: ignore[arg-type]
        self.rows: list[dict[str, Any]] = []
        self.figures: list[str] = []
        self.arrays: dict[str, Any] = {}
        self.checkpoint: dict | None = None

    @classmethod
    def for_steps(cls, steps: int, *, seed: int = 0, device: torch.device | str = "cpu",
                  interval: int | None = None) -> MemoryContext:
        """A context for ``steps`` steps per copy, logging about ten rows, maps at the end only."""
        from experiments.config import build

        cfg = build(Config, {"run": {"steps": int(steps), "seed": int(seed), "checkpoint_every": 0},
                             "logging": {"wandb": "disabled", "quiet": True,
                                         "interval": interval or max(int(steps) // 10, 1),
                                         "map_interval": int(steps) + 1}})
        return cls(cfg, torch.device(device), int(seed))

    def log(self, metrics: dict[str, float], step: int, axis: str | None = None) -> None:
        self.progressed = True
        self.last_step = max(self.last_step, int(step))
        self.rows.append({"step": int(step), **metrics})
        self._divergence.check(metrics, step)

    def save_figure(self, fig: Any, name: str, step: int | None = None) -> Path:
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.figures.append(name)
        return Path(f"{name}.png")

    def save_array(self, name: str, array: Any) -> Path:
        self.arrays[name] = array
        return Path(f"{name}.npy")

    def save_checkpoint(self, state: dict, by_rows: bool = False) -> Path:
        self.progressed = True
        self.checkpoint = state
        return Path("checkpoint.pt")
