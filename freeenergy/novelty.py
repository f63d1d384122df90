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
to noise, which it cannot code at all.

``objective="archive"`` replaces step 4's cycle error by novelty proper
(Lehman & Stanley 2011): the mean distance of a code to its ``k`` nearest
neighbours among an archive of the codes of everything the model has seen or
generated and the rest of the population (:mod:`freeenergy.knn_novelty`).
Each point steps along the normalised gradient of its novelty, away from its
neighbours; a step is kept only while the decoded point's free energy stays
within a threshold (a quantile of the data's free energy), the constraint
that keeps samples on the model's data manifold rather than in noise; a
rejected point halves its step. Step 6 then replaces data rows with the most
novel of the decoded points, and they join the archive. Each step here is a
pure function so that the experiment (and tests) can compose them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from freeenergy.knn_novelty import NoveltyArchive

STARTS = ("prior", "data", "code_gaussian")
OBJECTIVES = ("cycle", "archive")
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
    novelty: Tensor | None = None  # (steps + 1, M) novelty against archive and population (archive search)
    accepted: float = 1.0  # share of search steps kept under the free-energy constraint


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


# ------------------------------------------------------------------ archive search
def free_energy_threshold(model: torch.nn.Module, data: Tensor, quantile: float, batch: int = 1024) -> float:
    """The ``quantile`` of the model's free energy over ``data`` ``(N, D)``: the constraint of the archive search."""
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    fe = torch.cat([model.free_energy(chunk) for chunk in data.split(batch)])
    return float(torch.quantile(fe.float().cpu(), quantile))


def code_archive(model: torch.nn.Module, seen: Tensor, k: int, batch: int = 1024) -> NoveltyArchive:
    """A :class:`NoveltyArchive` of the current codes of ``seen`` ``(S, D)`` data-space points."""
    with torch.no_grad():
        codes = torch.cat([model.encode(chunk) for chunk in seen.split(batch)])
    arch = NoveltyArchive(codes.shape[1], capacity=max(1, len(codes)), k=k, device=codes.device)
    arch.add(codes)
    return arch


def archive_search(model: torch.nn.Module, z0: Tensor, archive: NoveltyArchive, steps: int, step_size: float,
                   feasible: Callable[[Tensor], Tensor], how: str = "l2") -> tuple[Tensor, Tensor, float]:
    """``steps`` novelty steps from ``z0`` ``(M, C)`` that keep ``feasible(z)`` ``(M,)`` bool true.

    Every point moves ``step_size`` along its normalised novelty gradient
    (away from its neighbours in ``archive`` and the population ``z``); a
    step that would leave the feasible set is not taken and that point's step
    halves. Returns the final codes ``(M, C)``, the novelty before and after
    every step ``(steps + 1, M)`` and the share of steps taken.
    """
    if steps < 0 or step_size < 0:
        raise ValueError(f"need steps >= 0 and step_size >= 0, got {steps}, {step_size}")
    z = z0.detach()
    size = torch.full((len(z), 1), float(step_size), device=z.device)
    trace = [archive.score(z, population=z)]
    taken = 0
    for _ in range(steps):
        cand = z + size * normalise(archive.direction(z, population=z), how)
        with torch.no_grad():
            ok = feasible(cand)
        z = torch.where(ok[:, None], cand, z)
        size = torch.where(ok[:, None], size, size / 2)
        taken += int(ok.sum())
        trace.append(archive.score(z, population=z))
    return z, torch.stack(trace), taken / max(1, steps * len(z))


def free_energy_constraint(model: torch.nn.Module, data: Tensor, quantile: float,
                           density_quantile: float = 0.0) -> Callable[[Tensor], Tensor]:
    """``feasible(z) -> (M,)`` bool: ``F(D(z))`` within the ``quantile`` of the data's free energy.

    With ``density_quantile > 0`` and a model with a fitted code prior
    (``rae_gmm``), also ``-log p(z)`` within that quantile of the data codes'
    (the prior's part of the free energy: codes stay where the data's codes are dense).
    """
    f_max = free_energy_threshold(model, data, quantile)
    prior = getattr(model, "code_prior", None)
    nll_max = None
    if density_quantile > 0 and prior is not None and model.refresh_prior():
        with torch.no_grad():
            nll = -torch.cat([prior.log_prob(model.encode(c)) for c in data.split(1024)])
        nll_max = float(torch.quantile(nll.float().cpu(), density_quantile))

    def feasible(z: Tensor) -> Tensor:
        ok = model.free_energy(model.decode(z)) <= f_max
        if nll_max is not None:
            ok = ok & (-prior.log_prob(z) <= nll_max)
        return ok
    return feasible


def archive_round(model: torch.nn.Module, data: Tensor, seen: Tensor, *, latent_fraction: float, steps: int,
                  step_size: float, how: str = "l2", start: str = "data", replace_fraction: float = 0.025,
                  k: int = 10, fe_quantile: float = 0.9, density_quantile: float = 0.0,
                  generator: torch.Generator | None = None) -> RoundResult:
    """Steps 3-6 with the archive objective on a trained ``model``.

    ``seen`` ``(S, D)`` is what the model has seen or generated so far (the
    archive, in data space; its codes are taken with the current encoder).
    The ``round(replace_fraction * N)`` most novel decoded points replace
    random rows of ``data``.
    """
    m = max(1, int(round(latent_fraction * data.shape[0])))
    z0 = latent_starts(model, data, m, start, generator)
    archive = code_archive(model, seen, k)
    feasible = free_energy_constraint(model, data, fe_quantile, density_quantile)
    z, trace, accepted = archive_search(model, z0, archive, steps, step_size, feasible, how)
    with torch.no_grad():
        novel = model.decode(z)
        errs = torch.stack([cycle_error(model, z0), cycle_error(model, z)])
    n_rep = min(int(round(replace_fraction * data.shape[0])), m)
    used = trace[-1].argsort(descending=True)[:n_rep]
    rows = torch.randperm(data.shape[0], generator=generator, device=_draw_device(generator))[:n_rep].to(data.device)
    new_data = data.clone()
    new_data[rows] = novel[used].to(new_data)
    return RoundResult(novel=novel, codes=z, cycle_errors=errs, data=new_data, replaced_rows=rows,
                       used_novel_rows=used, novelty=trace, accepted=accepted)
