"""Novelty search on the waves data set (the source's algorithm, steps 1-6).

``run(ctx)`` for ``run.kind: novelty``. Draws ``data.n`` sine and square
waves in the band ``novelty.wave_band``; trains the world model (an RAE by
default) for ``novelty.initial_epochs``; then, for each of ``novelty.rounds``
rounds: searches latent space for hard-to-code points
(``novelty.objective: cycle``) or for codes novel against an archive of all
it has seen and generated, under a free-energy constraint (``archive``; see
:mod:`freeenergy.novelty`), decodes them, replaces
``novelty.replace_fraction`` of the data with them, and trains
``novelty.epochs`` more epochs.

Per round it records (``rounds`` in the summary, and ``novelty/...`` scalars):

- ``error_percentile``: the novel samples' median reconstruction error on a
  log scale between the data's (0) and matched white noise's (100);
- ``entropy`` and ``peaks``: the data set's dominant-frequency entropy (nats)
  and count of distinct spectral peaks;
- ``noise_like_fraction``: novel samples whose spectral flatness is
  noise-like; ``novel_entropy``: dominant-frequency entropy of the novel
  samples alone; ``cycle_error_start`` / ``_end``: the search's mean cycle error;
  with the archive objective also ``novelty_start`` / ``_end`` (mean novelty of
  the population) and ``accepted`` (share of steps the constraint allowed).

Files: ``gallery_round_XX.png`` (novel waveforms), ``novel_round_XX.npy``
(all novel samples of the round), ``data_initial.npy`` and ``data_final.npy``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from experiments.config import ConfigError, to_dict
from experiments.context import RunContext
from freeenergy import novelty as nv
from freeenergy import spectral as sp
from freeenergy.knn_novelty import NoveltyArchive
from freeenergy.models import build_from_settings
from freeenergy.waves import make_waves
from freeenergy.world_model import WorldModel


def reconstruction_error(model: Any, x: torch.Tensor, generator: torch.Generator) -> np.ndarray:
    """Per-row squared error of one stochastic pass ``D(E(x) + noise)``: ``(B,)``."""
    with torch.no_grad():
        return (model.reconstruct(x, generator) - x).pow(2).mean(-1).cpu().numpy()


def spectra(x: np.ndarray, nc: Any) -> dict[str, float]:
    return {"entropy": sp.dominant_frequency_entropy(x),
            "peaks": sp.distinct_peaks(x, nc.peak_rel_power, nc.peak_min_share)}


def round_record(res: Any, novel_np: np.ndarray, errors: tuple[np.ndarray, ...], nc: Any) -> dict[str, float]:
    """A round's figures from its search result, novel samples and (novel, data, noise) errors."""
    err_novel, err_data, err_noise = errors
    return {
        "error_percentile": sp.error_percentile(err_novel, err_data, err_noise),
        "noise_like_fraction": sp.noise_like_fraction(novel_np, nc.noise_flatness),
        "novel_entropy": sp.dominant_frequency_entropy(novel_np),
        "cycle_error_start": float(res.cycle_errors[0].mean()),
        "cycle_error_end": float(res.cycle_errors[-1].mean()),
        "novel_error_median": float(np.median(err_novel)),
        "data_error_median": float(np.median(err_data)),
        "noise_error_median": float(np.median(err_noise)),
        **({} if res.novelty is None else {"novelty_start": float(res.novelty[0].mean()),
                                           "novelty_end": float(res.novelty[-1].mean()),
                                           "accepted": float(res.accepted)}),
    }


def build_model(cfg: Any, dim: int, device: Any) -> WorldModel:
    """The novelty run's world model for ``(B, dim)`` waveforms, from the world_model section."""
    return build_from_settings(cfg.world_model.name, dim, to_dict(cfg.world_model), device)


def _saver(ctx: RunContext, model: Any, gen: torch.Generator, dev_gen: torch.Generator, initial: dict,
           seen: NoveltyArchive) -> Any:
    """``save(round, data, rounds, seconds)``: a checkpoint after a finished round (0: initial training)."""
    def save(r: int, data: torch.Tensor, rounds: list, seconds: float) -> None:
        ctx.save_checkpoint({"step": r, "rounds": rounds, "initial": initial, "data": data.detach().cpu(),
                             "model": model.state_dict(), "optimiser": model.optimiser().state_dict(),
                             "gen": gen.get_state(), "dev_gen": dev_gen.get_state(), "seconds": seconds,
                             "seen": seen.state_dict()})
    return save


def search_round(model: Any, data: torch.Tensor, seen: NoveltyArchive, nc: Any, gen: torch.Generator) -> Any:
    """One round's search and replacement by ``novelty.objective``; the archive objective archives its samples."""
    if nc.objective == "cycle":
        return nv.novelty_round(model, data, nc.latent_fraction, nc.search_steps, nc.step_size, nc.normalise,
                                nc.start, nc.replace_fraction, gen)
    res = nv.archive_round(model, data, seen.archive, latent_fraction=nc.latent_fraction, steps=nc.search_steps,
                           step_size=nc.step_size, how=nc.normalise, start=nc.start,
                           replace_fraction=nc.replace_fraction, k=nc.k, fe_quantile=nc.fe_quantile,
                           density_quantile=nc.density_quantile, generator=gen)
    seen.add(res.novel.detach())
    return res


def _start_or_resume(ctx: RunContext, model: Any, data: torch.Tensor, gen: torch.Generator,
                     dev_gen: torch.Generator, seen: NoveltyArchive) -> tuple[torch.Tensor, dict, list[dict], float]:
    """(data, initial spectra, rounds done, clock start): a fresh start trains the model and
    checkpoints round 0; a resume restores the rounds, model, optimiser, data and generators."""
    nc = ctx.cfg.novelty
    resume = ctx.load_checkpoint()
    if resume is None:
        ctx.save_array("data_initial", data.cpu().numpy())
        initial = spectra(data.cpu().numpy(), nc)
        t0 = time.perf_counter()
        metrics = nv.train_epochs(model, data, nc.initial_epochs, ctx.cfg.world_model.batch_size, gen)
        ctx.log({f"world_model/{k}": v for k, v in metrics.items()}, step=0)
        seen.add(data)
        _saver(ctx, model, gen, dev_gen, initial, seen)(0, data, [], 0.0)
        return data, initial, [], t0
    model.load_state_dict(resume["model"])
    model.optimiser().load_state_dict(resume["optimiser"])
    gen.set_state(resume["gen"])
    dev_gen.set_state(resume["dev_gen"])
    if "seen" in resume:
        seen.load_state_dict(resume["seen"])
    ctx.restore_rng()  # building the model drew from the global RNG
    return (resume["data"].to(ctx.device), dict(resume["initial"]), list(resume["rounds"]),
            time.perf_counter() - float(resume["seconds"]))


def run(ctx: RunContext) -> dict:
    from experiments.io import maps

    cfg, nc = ctx.cfg, ctx.cfg.novelty
    if cfg.data.name != "waves":
        raise ConfigError(f"data.name={cfg.data.name!r} is invalid for run.kind=novelty: expected 'waves'")
    dev = ctx.device
    gen = torch.Generator().manual_seed(ctx.seed)
    dev_gen = torch.Generator(device=dev).manual_seed(ctx.seed + 1)
    data = torch.as_tensor(make_waves(cfg.data.n, nc.wave_length, tuple(nc.wave_band), seed=ctx.seed), device=dev)
    noise = torch.as_tensor(sp.matched_white_noise(data.cpu().numpy(), min(cfg.data.n, 1000), ctx.seed + 7),
                            device=dev)
    model = build_model(cfg, nc.wave_length, dev)
    if not hasattr(model, "encode") or not hasattr(model, "decode"):
        raise ConfigError(f"world_model.name={cfg.world_model.name!r} has no encoder/decoder for novelty search; "
                          "expected an autoencoder-style model")
    bs = cfg.world_model.batch_size
    seen = NoveltyArchive(nc.wave_length, capacity=nc.archive_capacity, k=nc.k, device=dev, generator=dev_gen)
    data, initial, rounds, t0 = _start_or_resume(ctx, model, data, gen, dev_gen, seen)
    save = _saver(ctx, model, gen, dev_gen, initial, seen)

    bar = ctx.progress(nc.rounds, "novelty rounds", initial=len(rounds))
    for r in range(len(rounds) + 1, nc.rounds + 1):
        res = search_round(model, data, seen, nc, gen)
        novel = res.novel.detach()
        novel_np = novel.cpu().numpy()
        err_novel = reconstruction_error(model, novel, dev_gen)
        err_data = reconstruction_error(model, data, dev_gen)
        err_noise = reconstruction_error(model, noise, dev_gen)
        data = res.data
        rec = {"round": r, **round_record(res, novel_np, (err_novel, err_data, err_noise), nc),
               **spectra(data.cpu().numpy(), nc)}
        metrics = nv.train_epochs(model, data, nc.epochs, bs, gen)
        rec["loss"] = metrics.get("loss", float("nan"))
        rounds.append(rec)
        ctx.log({f"novelty/{k}": v for k, v in rec.items() if k != "round"}, step=r)
        ctx.save_array(f"novel_round_{r:02d}", novel_np)
        if nc.gallery:
            pick = novel_np[res.used_novel_rows.cpu().numpy()[:nc.gallery]] if len(res.used_novel_rows) else \
                novel_np[:nc.gallery]
            ctx.save_figure(maps.plot_waveform_gallery(pick, f"novel samples, round {r}"),
                            f"gallery_round_{r:02d}", step=r)
        save(r, data, rounds, time.perf_counter() - t0)
        bar.update(1)
    bar.close()

    final_np = data.cpu().numpy()
    ctx.save_array("data_final", final_np)
    return {**summarise(initial, final_np, rounds, nc), "train_seconds": time.perf_counter() - t0}


def summarise(initial: dict[str, float], final_np: np.ndarray, rounds: list[dict], nc: Any) -> dict[str, Any]:
    """The run's summary from the initial spectra, the final data ``(N, L)`` and the round records."""
    final = spectra(final_np, nc)
    last = rounds[-1] if rounds else {}
    return {
        "initial_entropy": initial["entropy"],
        "final_entropy": final["entropy"],
        "entropy_ratio": final["entropy"] / initial["entropy"] if initial["entropy"] > 0 else float("nan"),
        "initial_peaks": initial["peaks"],
        "final_peaks": final["peaks"],
        "peaks_ratio": final["peaks"] / initial["peaks"] if initial["peaks"] > 0 else float("nan"),
        "noise_like_fraction": float(np.mean([r["noise_like_fraction"] for r in rounds])) if rounds else 0.0,
        "final_noise_like_fraction": last.get("noise_like_fraction", 0.0),
        "error_percentile": float(np.nanmedian([r["error_percentile"] for r in rounds])) if rounds else
        float("nan"),
        "final_error_percentile": last.get("error_percentile", float("nan")),
        "final_data_noise_like_fraction": sp.noise_like_fraction(final_np, nc.noise_flatness),
        "rounds": rounds,
    }
