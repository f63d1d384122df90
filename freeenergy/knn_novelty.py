"""Novelty of points as their mean distance to the k nearest neighbours in an archive.

Lehman & Stanley (2011, "Abandoning objectives: evolution through the search
for novelty alone"): the novelty of a behaviour ``b`` is

    rho(b) = (1/k) * sum_{i=1..k} dist(b, mu_i)

where ``mu_1..mu_k`` are its ``k`` nearest neighbours among the archive of
behaviours seen before and the current population. Every member is pushed
away from the others, so a population spreads instead of herding. APT (Liu &
Abbeel 2021) uses the same k-nearest-neighbour particle estimate of entropy.

:class:`NoveltyArchive` holds a bounded archive ``(capacity, D)`` on one
device and scores batches against it and an optional population. Distances
are Euclidean; they are computed in chunks of at most ``chunk_elements``
distance entries, so scoring ``B`` points against a large archive never
materialises a ``B x capacity`` matrix.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

REPLACEMENTS = ("reservoir", "fifo")
#: Largest number of distance entries held at once by ``score`` (16 MiB of float32).
CHUNK_ELEMENTS = 1 << 22


class NoveltyArchive:
    """A bounded archive of ``D``-dimensional points and their k-nearest-neighbour novelty.

    Args:
        dim: ``D``, the width of every point.
        capacity: largest number of points kept.
        k: neighbours averaged by ``score``.
        device: where the archive lives and every score is computed.
        generator: random source of reservoir replacement (on ``device``).
        replacement: what ``add`` does once the archive is full: ``"reservoir"``
            (default; Vitter's algorithm R: the ``n``-th point ever added
            enters with probability ``capacity / n`` in place of a uniformly
            chosen one, so the archive stays a uniform sample of everything
            added, old and new alike) or ``"fifo"`` (a ring: the newest
            ``capacity`` points).
        chunk_elements: largest distance matrix (entries) held at once.
    """

    def __init__(self, dim: int, *, capacity: int, k: int, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None, replacement: str = "reservoir",
                 chunk_elements: int = CHUNK_ELEMENTS) -> None:
        if int(dim) < 1 or int(capacity) < 1 or int(k) < 1:
            raise ValueError(f"dim, capacity and k must be >= 1, got {dim}, {capacity}, {k}")
        if replacement not in REPLACEMENTS:
            raise ValueError(f"replacement={replacement!r}; valid: {REPLACEMENTS}")
        if int(chunk_elements) < 1:
            raise ValueError(f"chunk_elements must be >= 1, got {chunk_elements}")
        self.dim, self.capacity, self.k = int(dim), int(capacity), int(k)
        self.device = torch.device(device)
        self.generator = generator
        self.replacement = replacement
        self.chunk_elements = int(chunk_elements)
        self.points = torch.zeros(self.capacity, self.dim, device=self.device)
        self.size = 0  # rows of ``points`` in use
        self.seen = 0  # points ever passed to ``add``

    def __len__(self) -> int:
        return self.size

    @property
    def archive(self) -> Tensor:
        """The archived points ``(size, D)`` (a view)."""
        return self.points[: self.size]

    @staticmethod
    def memory_bytes(capacity: int, dim: int) -> int:
        """Bytes held by an archive of ``capacity`` float32 points of width ``dim``."""
        return 4 * int(capacity) * int(dim)

    def _check(self, points: Tensor, what: str) -> Tensor:
        if points.dim() != 2 or points.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape (B, {self.dim}), got {tuple(points.shape)}")
        return points.detach().to(device=self.device, dtype=torch.float32)

    # ------------------------------------------------------------------ adding
    @torch.no_grad()
    def add(self, points: Tensor) -> None:
        """Archive ``points`` ``(B, D)``: fill free rows, then replace as ``replacement`` says."""
        x = self._check(points, "points")
        if self.replacement == "fifo":
            # The n-th point ever added (0-based) lives in row n % capacity: a ring of the newest.
            first = self.seen + max(0, len(x) - self.capacity)
            x = x[-self.capacity:]
            self.points[(first + torch.arange(len(x), device=self.device)) % self.capacity] = x
            self.size = min(self.capacity, self.size + len(x))
        else:
            free = min(self.capacity - self.size, len(x))
            self.points[self.size: self.size + free] = x[:free]
            self.size += free
            if len(x) > free:
                self._reservoir(x[free:], self.seen + free)
        self.seen += len(points)

    def _reservoir(self, rest: Tensor, before: int) -> None:
        """Algorithm R for ``rest``, the points numbered ``before + 1, before + 2, ..`` (1-based) of all added."""
        n = before + 1 + torch.arange(len(rest), device=self.device, dtype=torch.float64)
        u = torch.rand(len(rest), device=self.device, generator=self.generator, dtype=torch.float64)
        slot = (u * n).long()  # uniform in [0, n): the point enters (in that row) when it falls below capacity
        idx = torch.nonzero(slot < self.capacity).flatten()
        # Of several points drawn into one row the last wins, as in the sequential algorithm.
        last = torch.full((self.capacity,), -1, device=self.device, dtype=torch.long)
        last.scatter_reduce_(0, slot[idx], idx, reduce="amax")
        rows = torch.nonzero(last >= 0).flatten()
        self.points[rows] = rest[last[rows]]

    # ----------------------------------------------------------------- scoring
    @torch.no_grad()
    def score(self, points: Tensor, population: Tensor | None = None) -> Tensor:
        """Novelty ``(B,)`` of ``points`` ``(B, D)``: mean distance to the ``k`` nearest of archive and population.

        ``population`` ``(P, D)`` is the current population. When it is
        ``points`` itself (the same tensor: a population scored against
        itself), row ``i`` never counts as a neighbour of point ``i``. A point
        with fewer than ``k`` candidates averages over those it has; with none
        its novelty is 0.
        """
        dist, _ = self._knn(points, population)
        finite = torch.isfinite(dist)
        return torch.where(finite, dist, torch.zeros_like(dist)).sum(1) / finite.sum(1).clamp_min(1)

    @torch.no_grad()
    def direction(self, points: Tensor, population: Tensor | None = None) -> Tensor:
        """Gradient ``(B, D)`` of each point's novelty with its neighbours held fixed.

        ``d rho / d b = (1/k) sum_j (b - mu_j) / ||b - mu_j||``: the mean unit
        vector pointing away from the ``k`` nearest neighbours (as ``score``
        picks them; neighbours at distance 0 add nothing). Stepping along it
        raises the point's novelty to first order.
        """
        dist, near = self._knn(points, population)
        x = self._check(points, "points")
        away = x[:, None, :] - near
        unit = away / dist.clamp_min(1e-12)[..., None]
        ok = torch.isfinite(dist) & (dist > 0)
        unit = torch.where(ok[..., None], unit, torch.zeros_like(unit))
        return unit.sum(1) / torch.isfinite(dist).sum(1).clamp_min(1)[:, None]

    def _knn(self, points: Tensor, population: Tensor | None) -> tuple[Tensor, Tensor]:
        """Distances ``(B, k')`` (inf where missing) and points ``(B, k', D)`` of each point's nearest."""
        x = self._check(points, "points")
        pop = None if population is None else self._check(population, "population")
        itself = population is not None and _same(points, population)
        rows = max(1, min(len(x), math.isqrt(self.chunk_elements)))
        k = max(1, min(self.k, self.size + (0 if pop is None else len(pop))))
        dist = torch.full((len(x), k), torch.inf, device=self.device)
        near = torch.zeros((len(x), k, self.dim), device=self.device)
        for i in range(0, len(x), rows):
            chunk = x[i: i + rows]
            best = (torch.full((len(chunk), 0), torch.inf, device=self.device),
                    torch.zeros((len(chunk), 0, self.dim), device=self.device))
            best = self._nearest(chunk, self.archive, None, best)
            if pop is not None:
                best = self._nearest(chunk, pop, i if itself else None, best)
            m = best[0].shape[1]
            dist[i: i + rows, :m], near[i: i + rows, :m] = best
        return dist, near

    def _nearest(self, x: Tensor, ref: Tensor, own: int | None, best: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """The ``k`` nearest ``(b, <= k)`` distances and ``(b, <= k, D)`` points among ``best`` and ``ref``.

        ``ref`` ``(R, D)`` is read in column chunks of ``chunk_elements / b``;
        with ``own``, row ``own + i`` of ``ref`` is ``x[i]`` and is skipped.
        """
        b = len(x)
        cols = max(1, self.chunk_elements // b)
        ar = torch.arange(b, device=self.device)
        for j in range(0, len(ref), cols):
            block = ref[j: j + cols]
            d2 = _squared_distances(x, block)  # (b, m), by the matrix-product identity
            if own is not None:
                col = ar + own - j
                hit = (col >= 0) & (col < d2.shape[1])
                d2[ar[hit], col[hit]] = torch.inf
            cand, pick = d2.topk(min(self.k, d2.shape[1]), dim=1, largest=False)
            pts = block[pick]  # (b, k, D)
            # Exact distances of the candidates (the identity loses precision for near points).
            exact = (x[:, None, :] - pts).norm(dim=-1)
            exact = torch.where(torch.isfinite(cand), exact, torch.full_like(exact, torch.inf))
            dists, points = torch.cat([best[0], exact], 1), torch.cat([best[1], pts], 1)
            keep = dists.topk(min(self.k, dists.shape[1]), dim=1, largest=False).indices
            best = (dists.gather(1, keep), points.gather(1, keep[..., None].expand(-1, -1, self.dim)))
        return best

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """The archive (the rows in use, on the CPU), its counters and settings."""
        return {"points": self.archive.detach().cpu().clone(), "seen": self.seen, "dim": self.dim,
                "capacity": self.capacity, "k": self.k, "replacement": self.replacement}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (same ``dim``; at most ``capacity`` rows)."""
        pts = state["points"]
        if pts.dim() != 2 or pts.shape[1] != self.dim or len(pts) > self.capacity:
            raise ValueError(f"archive state of shape {tuple(pts.shape)} does not fit dim={self.dim}, "
                             f"capacity={self.capacity}")
        self.points.zero_()
        self.points[: len(pts)] = pts.to(self.device, torch.float32)
        self.size, self.seen = len(pts), int(state["seen"])


def _same(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` and ``b`` are the same rows in memory (one tensor passed twice)."""
    return a is b or (a.shape == b.shape and a.device == b.device and a.data_ptr() == b.data_ptr()
                      and a.stride() == b.stride())


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``(n, D), (m, D) -> (n, m)`` squared Euclidean distances, ``|a|^2 - 2 a.b + |b|^2``."""
    d2 = a.pow(2).sum(1, keepdim=True) - 2.0 * a @ b.T + b.pow(2).sum(1)[None, :]
    return d2.clamp_min(0.0)
