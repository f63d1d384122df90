"""A ring-buffer replay of joint transition rows, kept as tensors on the run's device.

Rows are stored un-normalised (``TransitionEncoder.raw``) so that a batch is
normalised with the statistics current when it is drawn. Each row carries an
importance weight (1 by default): a sampler that draws some states more often
than their natural frequency stores ``p / q`` weights here, and
``sample`` returns them so that the world model's loss stays unbiased.
"""
from __future__ import annotations

import torch
from torch import Tensor


class ReplayBuffer:
    """Fixed-capacity FIFO of ``(D,)`` rows with per-row weights.

    Args:
        capacity: rows kept; the oldest are overwritten first.
        dim: row width ``D``.
        device: where the storage lives.
    """

    def __init__(self, capacity: int, dim: int, device: torch.device | str = "cpu") -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.dim = int(dim)
        self.device = torch.device(device)
        self.rows = torch.zeros(self.capacity, self.dim, device=self.device)
        self.weights = torch.ones(self.capacity, device=self.device)
        self.pos = 0
        self.size = 0
        self.added = 0
        #: False while every weight is 1 (no sampler has weighted a row): draws then need no weights.
        self.weighted = False

    def __len__(self) -> int:
        return self.size

    def add(self, rows: Tensor, weights: Tensor | None = None) -> Tensor:
        """Append ``(B, D)`` rows (and optional ``(B,)`` weights); returns their slots ``(B,)``."""
        rows = rows.detach().to(self.device, torch.float32).reshape(-1, self.dim)
        b = rows.shape[0]
        self.added += b
        if b > self.capacity:  # only the newest rows fit
            rows = rows[-self.capacity:]
            weights = None if weights is None else weights[-self.capacity:]
            b = self.capacity
        idx = (self.pos + torch.arange(b, device=self.device)) % self.capacity
        self.rows[idx] = rows
        self.weights[idx] = 1.0 if weights is None else weights.detach().to(self.device, torch.float32).reshape(-1)
        self.weighted |= weights is not None
        self.pos = int((self.pos + b) % self.capacity)
        self.size = min(self.size + b, self.capacity)
        return idx

    def set_weights(self, idx: Tensor, weights: Tensor) -> None:
        """Overwrite the importance weights of slots ``idx`` ``(K,)``."""
        self.weights[idx.to(self.device)] = weights.to(self.device, torch.float32)
        self.weighted = True

    def sample(self, batch_size: int, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Uniform draw with replacement: rows ``(B, D)``, weights ``(B,)``, slots ``(B,)``."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (int(batch_size),), device=self.device, generator=generator)
        return self.rows[idx], self.weights[idx], idx

    def sample_recent(self, batch_size: int, window: int, generator: torch.Generator | None = None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """Uniform draw from the ``window`` newest rows: rows ``(B, D)``, weights ``(B,)``, slots ``(B,)``."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        w = max(1, min(int(window), self.size))
        back = torch.randint(w, (int(batch_size),), device=self.device, generator=generator)
        idx = (self.pos - 1 - back) % self.capacity
        return self.rows[idx], self.weights[idx], idx

    def recent(self, n: int) -> Tensor:
        """The ``min(n, size)`` newest rows, oldest first ``(n, D)``."""
        n = min(int(n), self.size)
        idx = (self.pos - n + torch.arange(n, device=self.device)) % self.capacity
        return self.rows[idx]

    def state_dict(self, max_rows: int | None = None) -> dict:
        """Storage for a checkpoint; ``max_rows`` keeps only the newest rows (a light state)."""
        n = self.size if max_rows is None else min(self.size, int(max_rows))
        idx = (self.pos - n + torch.arange(n, device=self.device)) % self.capacity
        return {"rows": self.rows[idx].cpu(), "weights": self.weights[idx].cpu(), "added": self.added}

    def load_state_dict(self, state: dict) -> None:
        self.pos, self.size, self.weighted = 0, 0, False
        rows = state["rows"]
        if rows.shape[0]:
            self.add(rows, state["weights"])
            self.weighted = bool((state["weights"] != 1).any())  # read once, on loading
        self.added = int(state.get("added", self.size))
