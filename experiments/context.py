"""RunContext: what an experiment function receives from the runner.

An experiment is ``run(ctx) -> dict``: it reads ``ctx.cfg``, works on
``ctx.device``, reports through ``ctx.log`` / ``ctx.save_figure`` /
``ctx.save_array``, and returns its summary; the runner writes the summary,
the config and the logs. Nothing here knows which experiment is running.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from experiments.config import Config
from experiments.logger import Logger


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else must be available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"env.device={name!r} but CUDA is not available here; use env.device=cpu or auto")
    return dev


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass
class RunContext:
    cfg: Config
    out_dir: Path
    device: torch.device
    seed: int
    logger: Logger
    quiet: bool = False
    resume_state: dict | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    # -- reporting -----------------------------------------------------------------
    def log(self, metrics: dict[str, float], step: int) -> None:
        """Namespaced scalars (``env/...``, ``world_model/...``, ``agent/...``, ``explore/...``)."""
        self.logger.log_scalars(metrics, step)

    def save_figure(self, fig: Any, name: str, step: int | None = None) -> Path:
        """Save a matplotlib figure as ``out_dir/<name>.png`` (and send it to W&B); closes it."""
        import matplotlib.pyplot as plt

        path = self.out_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)
        self.logger.log_image(name, path, step)
        return path

    def save_array(self, name: str, array: np.ndarray) -> Path:
        path = self.out_dir / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, np.asarray(array))
        os.replace(tmp, path)
        return path

    def progress(self, total: int, desc: str, **kwargs: Any) -> tqdm:
        """A progress bar; silent with ``--quiet`` / ``logging.quiet`` or when stderr is not a TTY."""
        disable = self.quiet or self.cfg.logging.quiet or not sys.stderr.isatty()
        return tqdm(total=total, desc=desc, disable=disable, dynamic_ncols=True, leave=False, **kwargs)

    # -- checkpoints -----------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def save_checkpoint(self, state: dict) -> Path:
        """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to checkpoint.pt."""
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())
        return self.checkpoint_path

    def load_checkpoint(self) -> dict | None:
        """The state to resume from (set by ``freeenergy resume``), or None for a fresh run."""
        return self.resume_state
