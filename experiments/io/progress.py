"""One overall progress figure with an ETA across the seeds and parts of a run.

Each run (a seed, or a part of a composite run) counts as one part; within a
part, its progress bars (:meth:`RunContext.progress`) report how far they are.
On a terminal an ``overall`` bar shows the whole; when stderr is not a
terminal (cluster logs, ``nohup``) one line is printed every
``FREEENERGY_PROGRESS_SECONDS`` seconds (default 30; 0 turns it off):

    freeenergy: progress 42% (part 2/3, train rae 150/300), elapsed 1m20s, ETA 1m50s
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm.auto import tqdm


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Overall:
    """Progress of the whole command: ``parts`` runs, each reporting a fraction done."""

    def __init__(self) -> None:
        self.begin(1, quiet=True)

    def begin(self, parts: int, quiet: bool) -> None:
        """Start counting a command of ``parts`` runs."""
        self.parts, self.done, self.frac, self.label = max(int(parts), 1), 0, 0.0, ""
        self.quiet = quiet
        self.start = self.last_line = time.monotonic()
        self.every = float(os.environ.get("FREEENERGY_PROGRESS_SECONDS", "30") or 0)
        self.tty = sys.stderr.isatty()
        self.bar = None
        if not quiet and self.tty and self.parts > 1:
            self.bar = tqdm(total=1000, desc="overall", position=0, leave=False, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| elapsed {elapsed}, ETA {remaining}")

    @property
    def fraction(self) -> float:
        return min((self.done + self.frac) / self.parts, 1.0)

    def update(self, frac: float, label: str = "") -> None:
        """The current part is ``frac`` (0..1) done; ``label`` says where."""
        self.frac, self.label = min(max(frac, 0.0), 1.0), label
        self._show()

    def part_done(self) -> None:
        self.done, self.frac = min(self.done + 1, self.parts), 0.0
        self._show()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        f = self.fraction
        eta = elapsed * (1 - f) / f if f > 0 else float("nan")
        where = f"part {min(self.done + 1, self.parts)}/{self.parts}" + (f", {self.label}" if self.label else "")
        return (f"freeenergy: progress {100 * f:.0f}% ({where}), elapsed {_clock(elapsed)}, "
                f"ETA {_clock(eta) if eta == eta else '?'}")

    def _show(self) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.n = int(1000 * self.fraction)
            self.bar.refresh()
        elif not self.tty and self.every > 0 and time.monotonic() - self.last_line >= self.every:
            self.last_line = time.monotonic()
            print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


OVERALL = Overall()


class PartBar(tqdm):
    """A run's own progress bar that also reports to :data:`OVERALL`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._count = int(kwargs.get("initial", 0) or 0)
        self._label, self._total = str(kwargs.get("desc", "")), kwargs.get("total")
        super().__init__(*args, **kwargs)

    def update(self, n: float = 1) -> Any:
        self._count += n
        if self._total:  # a disabled tqdm keeps neither desc nor counts: ours are kept here
            OVERALL.update(self._count / self._total, f"{self._label} {int(self._count)}/{int(self._total)}")
        return super().update(n)


def count_parts(cfg: Any) -> int:
    """Runs a command makes (seeds; a quickstart's parts and itself), for the overall progress."""
    from experiments.kinds import run_kind

    per_seed = run_kind(cfg.run.kind).parts(cfg)
    return max(len(cfg.run.seeds), 1) * per_seed
