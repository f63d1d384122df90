"""Collective variables and the harmonic window bias of umbrella sampling.

A collective variable (CV) ``xi(s)`` maps states ``(N, D)`` to ``(N,)`` through
``value(x)``; ``grad(x)`` ``(N, D)`` is its gradient where it has one. Window
``k`` adds ``U_k(s) = kappa/2 (xi(s) - xi_k)^2`` (:func:`harmonic_bias`), felt as
the force :func:`bias_force`. Re-exported by :mod:`freeenergy.umbrella`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor


def harmonic_bias(xi: Any, centre: Any, kappa: Any) -> Any:
    """``U = kappa/2 (xi - centre)^2``, broadcasting; numpy arrays or torch tensors."""
    return 0.5 * kappa * (xi - centre) ** 2


def autograd_cv_grad(value: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``d xi / d x`` of a differentiable CV by autograd: ``(N, D) -> (N, D)``."""
    with torch.enable_grad():
        xr = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(value(xr).sum(), xr)
    return g.detach()


class LinearCV:
    """``xi(s) = (s - origin) . direction`` with a unit ``direction`` ``(D,)``."""

    def __init__(self, direction: Any, origin: Any = None, device: str | torch.device = "cpu") -> None:
        d = torch.as_tensor(np.asarray(direction, dtype=np.float64), dtype=torch.float32, device=device)
        if d.dim() != 1 or not torch.isfinite(d).all() or float(d.norm()) == 0.0:
            raise ValueError(f"direction must be a finite non-zero vector (D,), got {direction!r}")
        self.direction = d / d.norm()
        self.origin = (torch.zeros_like(self.direction) if origin is None else
                       torch.as_tensor(np.asarray(origin, dtype=np.float64), dtype=torch.float32,
                                       device=device))
        if self.origin.shape != self.direction.shape:
            raise ValueError(f"origin {tuple(self.origin.shape)} must match direction "
                             f"{tuple(self.direction.shape)}")

    def value(self, x: Tensor) -> Tensor:
        """``(N, D) -> (N,)``."""
        return (x - self.origin) @ self.direction

    def grad(self, x: Tensor) -> Tensor:
        """Constant gradient ``direction`` for every row: ``(N, D)``."""
        return self.direction.expand(x.shape[0], -1)


class LatentCV:
    """``xi(s) = E(s) . v``: a direction ``v`` ``(C,)`` in a world model's code space."""

    def __init__(self, model: Any, direction: Any) -> None:
        self.model = model
        v = torch.as_tensor(np.asarray(direction, dtype=np.float64), dtype=torch.float32)
        if v.dim() != 1 or float(v.norm()) == 0.0:
            raise ValueError(f"latent direction must be a non-zero vector (C,), got {direction!r}")
        self.direction = v / v.norm()

    def value(self, x: Tensor) -> Tensor:
        """``(N, D) -> (N,)`` (differentiable)."""
        return self.model.encode(x) @ self.direction.to(x.device)

    def grad(self, x: Tensor) -> Tensor:
        """``(N, D)`` by autograd through the encoder."""
        return autograd_cv_grad(self.value, x)


class FreeEnergyCV:
    """``xi(s) = F(s)``: the world model's free energy (surprise) of each row.

    ``F`` is a noisy estimate (averaged over ``draws`` noise draws) and
    changes as the model learns, so windows on it give a heuristic bias, not
    an exact umbrella ensemble; it has no gradient here.
    """

    def __init__(self, model: Any, draws: int | None = None) -> None:
        self.model = model
        self.draws = draws

    def value(self, x: Tensor) -> Tensor:
        """``(N, D) -> (N,)``."""
        return self.model.free_energy(x, draws=self.draws)

    def grad(self, x: Tensor) -> Tensor:
        raise NotImplementedError("FreeEnergyCV has no force: use it for rewards or start-state choice")


def bias_force(x: Tensor, cv: Any, centre: Tensor, kappa: float | Tensor) -> Tensor:
    """``-grad_x U = -kappa (xi(x) - centre) grad_x xi``: ``(N, D)``.

    ``centre`` ``(N,)`` is the window centre of every row (``centres[windows]``).
    """
    xi = cv.value(x)
    return -(kappa * (xi - centre)).unsqueeze(-1) * cv.grad(x)
