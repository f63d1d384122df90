"""Novelty search in a world model's latent space (the RAE source's algorithm, steps 1-6).

The source's algorithm on a static data set ``X`` ``(N, D)``:

1. start with ``X``;
2. train the model (an RAE) on ``X``;
3. draw random latent points ``z`` ``(M, C)``, ``M`` about a fraction of ``N``;
4. step ``z`` up the normalised gradient of the cycle error
   ``c(z) = ||z - E(D(z))||^2`` (how hard ``z`` is to code);
5. repeat 4 for a number of steps;
6. replace a fraction of ``X`` by rows of ``D(z)``; go to 2.

The search looks for codes that the model finds hard, but not impossible, to
reproduce: it stretches what the model already codes well instead of jumping
to noise, which it cannot code at all. Each step here is a pure function so
that the experiment (and tests) can compose them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

STARTS = ("prior", "data", "code_gaussian")
NORMALISATIONS = ("l2", "max", "none")


def _draw_device(generator: torch.Generator | None) -> torch.device:
    """Where a draw with ``generator`` must happen (a CUDA generator cannot fill CPU tensors)."""
    return generator.device if generator is not None else torch.device("cpu")


def cycle_error(model: torch.nn.Module, z: Tensor) -> Tensor:
    """``||z - E(D(z))||^2`` per row: ``(M, C) -> (M,)`` (differentiable in ``z``)."""
    return (z - model.encode(model.decode(z))).pow(2).sum(-1)


def latent_starts(model: torch.nn.Module, data: Tensor, n: int, start: str = "code_gaussian",
                  generator: torch.Generator | None = None) -> Tensor:
    """``n`` random starting codes ``(n, C)``.

    ``start``: ``"prior"`` draws the model's prior codes; ``"data"`` encodes
    randomly chosen rows of ``data``; ``"code_gaussian"`` draws from a Gaussian
    with the per-dimension mean and std of the data's codes (random points in
    the region of latent space that the data occupies). Draws happen on
    ``generator``'s device (``"prior"`` seeds one on the model's device from it).
    """
    if start not in STARTS:
        raise ValueError(f"start={start!r}; valid: {STARTS}")
    if n < 1:
        raise ValueError(f"need n >= 1 latent points, got {n}")
    dev = _draw_device(generator)
    with torch.no_grad():
        if start == "prior":
            if generator is not None and generator.device != model.device:
                # prior_codes draws on the model's device: seed a generator there from this one.
                seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=dev))
                generator = torch.Generator(device=model.device).manual_seed(seed)
            return model.prior_codes(n, generator)
        if start == "data":
            idx = torch.randint(0, data.shape[0], (n,), generator=generator, device=dev).to(data.device)
            return model.encode(data[idx])
        codes = model.encode(data)
        mean, std = codes.mean(0), codes.std(0)
        noise = torch.randn((n, codes.shape[1]), generator=generator, device=dev).to(codes.device)
        return mean + std * noise


def normalise(g: Tensor, how: str = "l2") -> Tensor:
    """Scale each row of ``g`` ``(M, C)``: unit L2 norm, unit max-abs, or unchanged."""
    if how == "l2":
        return g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if how == "max":
        return g / g.abs().amax(dim=-1, keepdim=True).clamp_min(1e-12)
    if how == "none":
        return g
    raise ValueError(f"normalisation {how!r}; valid: {NORMALISATIONS}")


def search_step(model: torch.nn.Module, z: Tensor, step_size: float, how: str = "l2") -> Tensor:
    """One step ``z + step_size * normalise(grad_z c(z))`` ``(M, C)``; the model is not changed."""
    with torch.enable_grad():
        zr = z.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(cycle_error(model, zr).sum(), zr)
    return (z.detach() + step_size * normalise(g, how)).detach()


def novelty_search(model: torch.nn.Module, z0: Tensor, steps: int, step_size: float, how: str = "l2"
                   ) -> tuple[Tensor, Tensor]:
    """Steps 4-5: ``steps`` search steps from ``z0`` ``(M, C)``.

    Returns the final codes ``(M, C)`` and the cycle error before and after
    every step ``(steps + 1, M)``.
    """
    if steps < 0 or step_size < 0:
        raise ValueError(f"need steps >= 0 and step_size >= 0, got {steps}, {step_size}")
    z = z0.detach()
    errs = []
    with torch.no_grad():
        errs.append(cycle_error(model, z))
    for _ in range(steps):
        z = search_step(model, z, step_size, how)
        with torch.no_grad():
            errs.append(cycle_error(model, z))
    return z, torch.stack(errs)


def replace_rows(data: Tensor, novel: Tensor, fraction: float, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Step 6: overwrite ``round(fraction * N)`` random rows of ``data`` ``(N, D)`` with novel rows.

    Uses a random subset of ``novel`` ``(M, D)`` (all of it if it has fewer
    rows). Returns ``(new_data, replaced_rows, used_novel_rows)``; ``data`` is
    not modified.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"replace fraction must be in [0, 1], got {fraction}")
    n = data.shape[0]
    k = min(int(round(fraction * n)), novel.shape[0])
    dev = _draw_device(generator)
    rows = torch.randperm(n, generator=generator, device=dev)[:k].to(data.device)
    used = torch.randperm(novel.shape[0], generator=generator, device=dev)[:k].to(novel.device)
    out = data.clone()
    out[rows] = novel[used].to(out)
    return out, rows, used


def train_epochs(model: torch.nn.Module, data: Tensor, epochs: int, batch_size: int,
                 generator: torch.Generator | None = None) -> dict[str, float]:
    """Step 2: ``epochs`` shuffled passes of ``model.fit_step`` over ``data``; mean metrics of the last epoch."""
    n = data.shape[0]
    last: dict[str, list[float]] = {}
    for _ in range(int(epochs)):
        perm = torch.randperm(n, generator=generator, device=_draw_device(generator)).to(data.device)
        last = {}
        for i in range(0, n, batch_size):
            metrics = model.fit_step(data[perm[i:i + batch_size]])
            for key, v in metrics.items():
                last.setdefault(key, []).append(v)
    return {k: float(np.mean(v)) for k, v in last.items()}


@dataclass
class RoundResult:
    """One novelty round: the novel samples ``(M, D)``, the codes ``(M, C)`` and the search's errors."""

    novel: Tensor
    codes: Tensor
    cycle_errors: Tensor  # (steps + 1, M)
    data: Tensor  # the data set after replacement (N, D)
    replaced_rows: Tensor
    used_novel_rows: Tensor


def novelty_round(model: torch.nn.Module, data: Tensor, latent_fraction: float, steps: int,
                  step_size: float, how: str = "l2", start: str = "code_gaussian",
                  replace_fraction: float = 0.025, generator: torch.Generator | None = None) -> RoundResult:
    """Steps 3-6 on a trained ``model``: search from ``latent_fraction * N`` random codes, replace rows."""
    m = max(1, int(round(latent_fraction * data.shape[0])))
    z0 = latent_starts(model, data, m, start, generator)
    z, errs = novelty_search(model, z0, steps, step_size, how)
    with torch.no_grad():
        novel = model.decode(z)
    new_data, rows, used = replace_rows(data, novel, replace_fraction, generator)
    return RoundResult(novel=novel, codes=z, cycle_errors=errs, data=new_data, replaced_rows=rows,
                       used_novel_rows=used)
