"""NoisyTV: a GridMaze with a TV cell showing irreducible noise, and its twin.

The classic trap for prediction-error curiosity (Burda et al. 2018): the
observation is the GridMaze observation followed by ``noise_dim`` TV channels.
While the agent stands on a TV cell (``T`` in the layout, or ``tv_cell=(ix,
iy)``) the channels show fresh uniform noise in [0, 1) at every step, which no
model can predict; elsewhere they are 0. The default layout is FourRooms with
a TV in the lower-right room. Unlike GridMaze, ``stay_action`` defaults to
True, so an agent can sit in front of the TV. ``info`` adds ``at_tv`` (bool) and
``metrics`` = ``{"tv_fraction": 1.0 at a TV, else 0.0}`` (the run metrics protocol of
:mod:`envs.base`: a run reports the share of copy-steps spent at the TV).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from envs.gridmaze import GridMaze, GridMazeTwin, GridTables

OBS_STREAM = 2 << 20


def _tv_table(tables: GridTables, tv_cell: tuple[int, int] | None) -> np.ndarray:
    """(H*W,) bool: text-flat cells that are TVs."""
    tv = np.zeros(tables.height * tables.width, dtype=bool)
    for r, c in tables.layout.tvs:
        tv[r * tables.width + c] = True
    if tv_cell is not None:
        ix, iy = (int(v) for v in tv_cell)
        tv[int(tables.flat_from_xy(np.int64(ix), np.int64(iy)))] = True
    if not tv.any():
        raise ValueError("NoisyTV needs a TV: put 'T' in the layout or pass tv_cell=(ix, iy)")
    return tv


def _check_noise_dim(noise_dim: int) -> int:
    if int(noise_dim) < 1:
        raise ValueError(f"noise_dim must be >= 1, got {noise_dim}")
    return int(noise_dim)


class NoisyTV(GridMaze):
    """Single-copy NoisyTV; GridMaze kwargs plus ``noise_dim`` and ``tv_cell``."""

    def __init__(
        self,
        layout: str = "noisytv",
        noise_dim: int = 4,
        tv_cell: tuple[int, int] | None = None,
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = True,
        random_start: bool | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(layout, max_steps, local_view, stay_action, random_start, render_mode)
        self.noise_dim = _check_noise_dim(noise_dim)
        self._tv = _tv_table(self.tables, tv_cell)
        self._obs_ch = np.arange(self.noise_dim) + OBS_STREAM
        self.observation_space = spaces.Box(0.0, 1.0, (self.tables.obs_dim + self.noise_dim,), np.float32)

    def _obs(self) -> np.ndarray:
        tv = self._uniform(self._obs_ch) if self._tv[self._p] else np.zeros(self.noise_dim, np.float32)
        return np.concatenate([self.tables.obs_table[self._p], tv]).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        at_tv = bool(self._tv[self._p])
        return {**super()._info(), "at_tv": at_tv, "metrics": {"tv_fraction": float(at_tv)}}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.tables.render_text(self._p, {int(q): "T" for q in np.nonzero(self._tv)[0]})
        return None


class NoisyTVTwin(GridMazeTwin):
    """Batched torch twin of :class:`NoisyTV`."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        layout: str = "noisytv",
        noise_dim: int = 4,
        tv_cell: tuple[int, int] | None = None,
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = True,
        random_start: bool | None = None,
    ) -> None:
        super().__init__(num_envs, device, layout, max_steps, local_view, stay_action, random_start)
        self.noise_dim = _check_noise_dim(noise_dim)
        self._tv = torch.as_tensor(_tv_table(self.tables, tv_cell), device=self.device)
        self._obs_ch = self._channels(OBS_STREAM, self.noise_dim)
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.tables.obs_dim + self.noise_dim,), np.float32)
        self.obs_dim = self.tables.obs_dim + self.noise_dim

    def _observe(self) -> torch.Tensor:
        at_tv = self._tv[self._p]
        tv = self._uniform(self._obs_ch) * at_tv[:, None].to(torch.float32)
        return torch.cat([self._obs_table[self._p], tv], dim=1)

    def _extra_info(self) -> dict[str, Any]:
        at_tv = self._tv[self._p]
        return {**super()._extra_info(), "at_tv": at_tv, "metrics": {"tv_fraction": at_tv.to(torch.float32)}}
