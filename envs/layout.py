"""Grid layouts: parse layout strings, load the bundled ones, find reachable cells.

Characters: ``#`` wall, ``.`` free, ``S`` start, ``G`` goal (reaching it ends
the episode with reward 1), ``T`` a noisy-TV cell (NoisyTV only; free
elsewhere). A layout whose border is not all walls is wrapped in a ring of
walls. Bundled layouts (``envs/layouts/*.txt``) are named by file stem:
``fourrooms`` (13x13, Sutton et al. 1999), ``multiroom`` (25x25, nine 7x7
rooms), ``umaze`` (5x5) and ``noisytv`` (FourRooms with a TV).

Map coordinates put x to the right and y up: the cell at text row ``r`` and
column ``c`` of an ``H``-row layout has ``ix = c``, ``iy = H - 1 - r`` and its
centre at ``(ix + 0.5, iy + 0.5)``; its cell index is ``iy * W + ix``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LAYOUT_DIR = Path(__file__).with_name("layouts")
_ALLOWED = set("#.SGT")


def bundled_layouts() -> list[str]:
    """Names of the bundled layouts."""
    return sorted(p.stem for p in LAYOUT_DIR.glob("*.txt"))


@dataclass(frozen=True)
class Layout:
    """A parsed grid. ``walls`` (H, W) bool in text order (row 0 = top line)."""

    walls: np.ndarray
    start: tuple[int, int] | None  # (row, col)
    goals: tuple[tuple[int, int], ...] = ()
    tvs: tuple[tuple[int, int], ...] = ()
    text: str = field(default="", repr=False)

    @property
    def height(self) -> int:
        return int(self.walls.shape[0])

    @property
    def width(self) -> int:
        return int(self.walls.shape[1])

    def cell_index(self, row: np.ndarray | int, col: np.ndarray | int):
        """Map-cell index ``iy * W + ix`` of text (row, col)."""
        return (self.height - 1 - row) * self.width + col

    def reachable(self) -> np.ndarray:
        """(M, 2) int64 (row, col) of free cells reachable from the start, sorted.

        With no ``S`` every free cell counts (the start is then drawn among them).
        """
        free = ~self.walls
        if self.start is None:
            rows, cols = np.nonzero(free)
            return np.stack([rows, cols], axis=1).astype(np.int64)
        seen = np.zeros_like(free)
        queue = deque([self.start])
        seen[self.start] = True
        while queue:
            r, c = queue.popleft()
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < self.height and 0 <= cc < self.width and free[rr, cc] and not seen[rr, cc]:
                    seen[rr, cc] = True
                    queue.append((rr, cc))
        rows, cols = np.nonzero(seen)
        return np.stack([rows, cols], axis=1).astype(np.int64)


def parse_layout(text: str) -> Layout:
    """Parse a layout string (lines of ``#.SGT``); clear errors for bad input."""
    lines = [ln.rstrip("\r") for ln in text.strip("\n").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise ValueError("layout is empty; expected lines of '#', '.', 'S', 'G', 'T'")
    width = max(len(ln) for ln in lines)
    for i, ln in enumerate(lines):
        bad = set(ln) - _ALLOWED - {" "}
        if bad:
            raise ValueError(
                f"layout line {i} {ln!r} has characters {sorted(bad)}; allowed are '#', '.', 'S', 'G', 'T'"
            )
    # Spaces and short lines count as walls.
    grid = np.array([list(ln.replace(" ", "#").ljust(width, "#")) for ln in lines])
    border = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
    if (border != "#").any():
        grid = np.pad(grid, 1, constant_values="#")
    starts = list(zip(*np.nonzero(grid == "S")))
    if len(starts) > 1:
        raise ValueError(f"layout has {len(starts)} start cells 'S'; at most one is allowed")
    walls = grid == "#"
    if walls.all():
        raise ValueError("layout has no free cell")
    cells = lambda ch: tuple((int(r), int(c)) for r, c in zip(*np.nonzero(grid == ch)))  # noqa: E731
    start = (int(starts[0][0]), int(starts[0][1])) if starts else None
    return Layout(walls=walls, start=start, goals=cells("G"), tvs=cells("T"), text="\n".join("".join(r) for r in grid))


def load_layout(layout: str | Layout) -> Layout:
    """A bundled layout by name (case-insensitive), or a layout string."""
    if isinstance(layout, Layout):
        return layout
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a bundled name or a layout string, got {type(layout).__name__}")
    name = layout.strip().lower()
    path = LAYOUT_DIR / f"{name}.txt"
    if "\n" not in layout and path.is_file():
        return parse_layout(path.read_text())
    if "\n" not in layout and not set(layout.strip()) <= _ALLOWED:
        raise ValueError(f"unknown layout name {layout!r}; bundled layouts are {bundled_layouts()} (or pass a layout string)")
    return parse_layout(layout)
