"""LargeMaze: seeded procedural mazes with long corridors, dead ends and rooms.

The layout is a "perfect" maze carved by a randomised depth-first search
(recursive backtracker: long winding corridors, many dead ends, one path
between any two places) on a ``size`` x ``size`` grid, into which ``rooms``
open rectangular rooms are cut. A room removes the walls inside its rectangle,
so every corridor that touches it becomes a door: the rooms add loops and open
areas where a random walk lingers. The grid is split into blocks of
``room_size + 1`` maze cells and each room gets its own block (a random size
from 2 to ``room_size`` cells a side, at a random place in the block), so rooms
spread over the whole maze. The agent starts in the top-left corner; there is
no goal (reward 0): the world measures exploration.

Everything is drawn from ``numpy.random.default_rng(layout_seed)``, so a
``layout_seed`` names one maze on every machine; the episode seed (``reset``)
only matters with ``random_start=True``.

Observation, actions, ``info`` and state are GridMaze's (:mod:`envs.gridmaze`):
the normalised position (plus the 3x3 wall view with ``local_view=True``);
0 up, 1 right, 2 down, 3 left; ``map_xy`` the cell centre in cell units, map
bounds ((0, size), (0, size)), one coverage cell per grid cell;
``reachable_cells`` all free cells.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from envs.gridmaze import GridMaze, GridMazeTwin

DEFAULT_SIZE = 51
DEFAULT_ROOMS = 16
DEFAULT_ROOM_SIZE = 3
MIN_SIZE = 7


def max_rooms(size: int, room_size: int) -> int:
    """How many rooms of up to ``room_size`` cells a side fit a ``size`` maze (one per block)."""
    cells = (size - 1) // 2
    per_side = cells // (room_size + 1)
    return per_side * per_side


def check_params(size: int, rooms: int, room_size: int) -> None:
    """One-line ``ValueError`` naming the key, the value and what is valid."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE or size % 2 == 0:
        raise ValueError(f"size={size!r} is invalid: expected an odd integer >= {MIN_SIZE} (grid cells a side)")
    if isinstance(room_size, bool) or not isinstance(room_size, (int, np.integer)) or room_size < 2:
        raise ValueError(f"room_size={room_size!r} is invalid: expected an integer >= 2 (maze cells a side)")
    cap = max_rooms(int(size), int(room_size))
    if isinstance(rooms, bool) or not isinstance(rooms, (int, np.integer)) or not 0 <= rooms <= cap:
        raise ValueError(f"rooms={rooms!r} does not fit a size={size} maze with room_size={room_size}: "
                         f"valid rooms are 0..{cap} (or a larger size / smaller room_size)")


def _carve_corridors(walls: np.ndarray, cells: int, rng: np.random.Generator) -> None:
    """Randomised depth-first search over the maze cells (odd grid coordinates)."""
    visited = np.zeros((cells, cells), dtype=bool)
    stack = [(0, 0)]
    visited[0, 0] = True
    walls[1, 1] = False
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    while stack:
        r, c = stack[-1]
        nxt = [(r + dr, c + dc) for dr, dc in steps
               if 0 <= r + dr < cells and 0 <= c + dc < cells and not visited[r + dr, c + dc]]
        if not nxt:
            stack.pop()
            continue
        nr, nc = nxt[int(rng.integers(len(nxt)))]
        visited[nr, nc] = True
        walls[2 * nr + 1, 2 * nc + 1] = False
        walls[r + nr + 1, c + nc + 1] = False  # the wall between the two cells
        stack.append((nr, nc))


def _carve_rooms(walls: np.ndarray, cells: int, rooms: int, room_size: int, rng: np.random.Generator) -> None:
    """Open ``rooms`` rectangles, one per randomly chosen block of ``room_size + 1`` cells."""
    block = room_size + 1
    per_side = cells // block
    chosen = rng.choice(per_side * per_side, size=rooms, replace=False) if rooms else []
    for b in sorted(int(x) for x in chosen):
        br, bc = divmod(b, per_side)
        h, w = (int(x) for x in rng.integers(2, room_size + 1, size=2))
        r0 = br * block + int(rng.integers(0, block - h + 1))
        c0 = bc * block + int(rng.integers(0, block - w + 1))
        walls[2 * r0 + 1: 2 * (r0 + h - 1) + 2, 2 * c0 + 1: 2 * (c0 + w - 1) + 2] = False


@lru_cache(maxsize=32)
def generate_layout(size: int = DEFAULT_SIZE, rooms: int = DEFAULT_ROOMS, room_size: int = DEFAULT_ROOM_SIZE,
                    layout_seed: int = 0) -> str:
    """The layout string (``#`` wall, ``.`` free, ``S`` start at the top-left) of one maze."""
    check_params(size, rooms, room_size)
    if isinstance(layout_seed, bool) or not isinstance(layout_seed, (int, np.integer)) or layout_seed < 0:
        raise ValueError(f"layout_seed={layout_seed!r} is invalid: expected a non-negative integer")
    rng = np.random.default_rng(int(layout_seed))
    size, cells = int(size), (int(size) - 1) // 2
    walls = np.ones((size, size), dtype=bool)
    _carve_corridors(walls, cells, rng)
    _carve_rooms(walls, cells, int(rooms), int(room_size), rng)
    grid = np.where(walls, "#", ".")
    grid[1, 1] = "S"
    return "\n".join("".join(row) for row in grid)


class LargeMaze(GridMaze):
    """Single-copy Gymnasium LargeMaze (see module doc).

    Args:
        size: grid cells a side (odd, >= 7); the maze has ``((size - 1) / 2)^2`` maze cells.
        rooms: open rooms cut into the maze (at most :func:`max_rooms`).
        room_size: largest room side in maze cells (a room spans ``2 * room_size - 1`` grid cells).
        layout_seed: which maze.
        max_steps, local_view, stay_action, random_start, render_mode: as :class:`GridMaze`.
    """

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        rooms: int = DEFAULT_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        layout_seed: int = 0,
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = False,
        random_start: bool | None = None,
        render_mode: str | None = None,
    ) -> None:
        layout = generate_layout(size, rooms, room_size, layout_seed)
        super().__init__(layout, max_steps, local_view, stay_action, random_start, render_mode)


class LargeMazeTwin(GridMazeTwin):
    """Batched torch twin of :class:`LargeMaze`: same kwargs plus ``num_envs``, ``device``."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        size: int = DEFAULT_SIZE,
        rooms: int = DEFAULT_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        layout_seed: int = 0,
        max_steps: int = 10_000,
        local_view: bool = False,
        stay_action: bool = False,
        random_start: bool | None = None,
    ) -> None:
        layout = generate_layout(size, rooms, room_size, layout_seed)
        super().__init__(num_envs, device, layout, max_steps, local_view, stay_action, random_start)
