"""Config sections of the studies: restarts, umbrella sampling, novelty search, data sets, generative comparisons."""
from __future__ import annotations

from dataclasses import dataclass

from experiments.config.engine import _one_of, _require, doc
from freeenergy import model_table as wm_table


@dataclass(frozen=True)
class RestartsConfig:
    every: int = doc(0, "Return, then explore: env steps between restarts (0: none). Every agent type that runs on "
                     "the project's loop (random, amortised, fe, afe) gets the same restarts.")
    fraction: float = doc(0.25, "Share of the copies put back (env.set_state) at rare states per restart.")
    rank: str = doc("afe", "What ranks the states met since the last restart: an intrinsic source that rewards "
                    "novelty (afe: a world model's free energy, built for the restarts alone; count: exact visit "
                    "counts, Go-Explore's oracle; rnd; ...) or uniform (states drawn at random: the control).")
    top: float = doc(0.1, "Restarts draw from this top share of the ranked states.")

    def __post_init__(self) -> None:
        _require(self.every >= 0, "restarts.every", self.every, "an integer >= 0 (0: no restarts)")
        _require(0 < self.fraction <= 1, "restarts.fraction", self.fraction, "a number in (0, 1]")
        _require(0 < self.top <= 1, "restarts.top", self.top, "a number in (0, 1]")
        from agents import intrinsic

        novelty = [n for n in intrinsic.source_names() if intrinsic.spec(n).objective == "maximise" and n != "none"]
        _one_of("restarts.rank", self.rank, ("uniform", *novelty))


@dataclass(frozen=True)
class UmbrellaConfig:
    windows: int = doc(0, "Umbrella windows along the collective variable (0: no biasing).")
    kappa: float = doc(0.0, "Harmonic bias stiffness, U_k = kappa/2 (xi - xi_k)^2, in energy units per squared "
                       "CV unit (0: kappa_factor * kT / window spacing^2).")
    kappa_factor: float = doc(1.0, "With kappa=0: window thermal width = spacing / sqrt(kappa_factor).")
    direction: tuple[float, ...] = doc((), "CV direction in state space (umbrella runs); empty: from the env's "
                                       "deepest minimum to its second minimum (Muller-Brown A -> B).")
    cv_range: tuple[float, ...] = doc((), "[lo, hi] of the window centres along the CV; empty: the two minima's "
                                      "projections widened by cv_margin.")
    cv_margin: float = doc(0.3, "With empty cv_range: extra CV length beyond each minimum.")
    bins: int = doc(60, "Histogram bins of the free-energy profile (PMF).")
    equilibration: int = doc(200, "Steps discarded at the start of every window (and of the unbiased run).")
    subsample: bool = doc(True, "Keep every g-th sample of each chain (g = statistical inefficiency).")
    min_overlap: float = doc(0.03, "Warn when neighbouring windows' MBAR overlap falls below this.")
    eval_kT: float = doc(10.0, "PMF errors are measured over bins within this many kT of the exact minimum.")
    weight: float = doc(1.0, "Rare-state biasing: scale of the -U_k reward added to the agent's "
                        "planning score (fe, afe) or intrinsic reward (amortised).")
    reset_fraction: float = doc(0.25, "Rare-state biasing: share of copies restarted at rare replay states per "
                                "refresh (where the env supports set_state).")
    refresh: int = doc(200, "Rare-state biasing: env steps between re-centring the windows on recent free "
                        "energies and restarting copies.")
    fe_quantiles: tuple[float, ...] = doc((0.5, 0.99), "Rare-state biasing: window centres span these quantiles "
                                          "of the free energies the planner imagined (fe, afe) or of real "
                                          "transitions (amortised) since the last refresh.")
    importance_weights: bool = doc(True, "Rare-state biasing: weight replay samples so that the world model's "
                                   "loss stays that of unbiased data.")

    def __post_init__(self) -> None:
        _require(self.windows >= 0, "umbrella.windows", self.windows, "an integer >= 0")
        _require(self.kappa >= 0, "umbrella.kappa", self.kappa, "a number >= 0 (0: automatic)")
        _require(self.kappa_factor > 0, "umbrella.kappa_factor", self.kappa_factor, "a number > 0")
        _require(len(self.cv_range) in (0, 2) and (len(self.cv_range) == 0 or self.cv_range[0] < self.cv_range[1]),
                 "umbrella.cv_range", list(self.cv_range), "empty or [lo, hi] with lo < hi")
        _require(len(self.direction) == 0 or any(v != 0 for v in self.direction), "umbrella.direction",
                 list(self.direction), "empty or a non-zero vector")
        _require(self.cv_margin >= 0, "umbrella.cv_margin", self.cv_margin, "a number >= 0")
        _require(self.bins >= 2, "umbrella.bins", self.bins, "an integer >= 2")
        _require(self.equilibration >= 0, "umbrella.equilibration", self.equilibration, "an integer >= 0")
        _require(0 <= self.min_overlap < 1, "umbrella.min_overlap", self.min_overlap, "a number in [0, 1)")
        _require(self.eval_kT > 0, "umbrella.eval_kT", self.eval_kT, "a number > 0")
        _require(self.weight >= 0, "umbrella.weight", self.weight, "a number >= 0")
        _require(0 <= self.reset_fraction <= 1, "umbrella.reset_fraction", self.reset_fraction, "a number in [0, 1]")
        _require(self.refresh >= 1, "umbrella.refresh", self.refresh, "an integer >= 1")
        q = self.fe_quantiles
        _require(len(q) == 2 and 0 <= q[0] < q[1] <= 1, "umbrella.fe_quantiles", list(q),
                 "[lo, hi] with 0 <= lo < hi <= 1")


@dataclass(frozen=True)
class NoveltyConfig:
    rounds: int = doc(10, "Novelty-search rounds (train, search latent space, replace data).")
    initial_epochs: int = doc(100, "Training epochs on the data before the first round.")
    epochs: int = doc(50, "Training epochs between rounds.")
    latent_fraction: float = doc(0.1, "Random latent points per round, as a fraction of the data set size.")
    start: str = doc("data", "Where the latent points start: prior (the model's prior codes), data (codes "
                     "of random rows) or code_gaussian (Gaussian fitted to the data's codes).")
    objective: str = doc("cycle", "What the search climbs: cycle (the cycle error ||z - E(D(z))||^2, the "
                         "source's) or archive (novelty: mean distance to the k nearest codes of everything seen "
                         "or generated and of the population, under the free-energy constraint).")
    search_steps: int = doc(10, "Gradient steps of the search per round.")
    step_size: float = doc(0.4, "Length of each search step (after normalisation).")
    normalise: str = doc("l2", "Gradient normalisation per point: l2 (unit norm), max (unit max-abs) or none.")
    replace_fraction: float = doc(0.025, "Fraction of the data set replaced by novel samples per round.")
    k: int = doc(10, "Archive search: neighbours of the novelty score.")
    fe_quantile: float = doc(0.9, "Archive search: a step is kept while the decoded point's free energy stays "
                             "below this quantile of the data's.")
    density_quantile: float = doc(0.0, "Archive search with a code prior (rae_gmm): a step is also kept only "
                                  "while the code's -log density stays below this quantile of the data codes' "
                                  "(0: no density constraint).")
    archive_capacity: int = doc(5000, "Archive search: points kept of everything seen or generated (a "
                                "reservoir sample beyond that).")
    wave_length: int = doc(64, "Waves data set: samples per waveform.")
    wave_band: tuple[float, ...] = doc((3.0, 5.0), "Waves data set: [lo, hi] frequency band, cycles per window.")
    gallery: int = doc(16, "Novel waveforms drawn in each round's gallery figure.")
    noise_flatness: float = doc(0.35, "Spectral flatness above which a sample counts as noise-like "
                                "(white noise: 0.57 +- 0.08).")
    peak_rel_power: float = doc(0.1, "A spectral peak needs this share of its row's top power.")
    peak_min_share: float = doc(0.01, "A frequency counts as a distinct peak when it peaks in this share of rows.")

    def __post_init__(self) -> None:
        _require(self.rounds >= 0, "novelty.rounds", self.rounds, "an integer >= 0")
        for key in ("initial_epochs", "epochs", "search_steps", "gallery"):
            v = getattr(self, key)
            _require(v >= 0, f"novelty.{key}", v, "an integer >= 0")
        _require(0 < self.latent_fraction <= 1, "novelty.latent_fraction", self.latent_fraction, "a number in (0, 1]")
        _one_of("novelty.start", self.start, ("prior", "data", "code_gaussian"))
        _require(self.step_size >= 0, "novelty.step_size", self.step_size, "a number >= 0")
        _one_of("novelty.normalise", self.normalise, ("l2", "max", "none"))
        _one_of("novelty.objective", self.objective, ("cycle", "archive"))
        _require(self.k >= 1, "novelty.k", self.k, "an integer >= 1")
        _require(0 < self.fe_quantile <= 1, "novelty.fe_quantile", self.fe_quantile, "a number in (0, 1]")
        _require(0 <= self.density_quantile <= 1, "novelty.density_quantile", self.density_quantile,
                 "a number in [0, 1]")
        _require(self.archive_capacity >= 1, "novelty.archive_capacity", self.archive_capacity, "an integer >= 1")
        _require(0 <= self.replace_fraction <= 1, "novelty.replace_fraction", self.replace_fraction,
                 "a number in [0, 1]")
        _require(self.wave_length >= 8, "novelty.wave_length", self.wave_length, "an integer >= 8")
        b = self.wave_band
        _require(len(b) == 2 and 0 < b[0] <= b[1] < self.wave_length / 2, "novelty.wave_band", list(b),
                 f"[lo, hi] with 0 < lo <= hi < wave_length/2 = {self.wave_length / 2}")
        _require(0 < self.noise_flatness < 1, "novelty.noise_flatness", self.noise_flatness, "a number in (0, 1)")
        _require(0 < self.peak_rel_power <= 1, "novelty.peak_rel_power", self.peak_rel_power, "a number in (0, 1]")
        _require(0 < self.peak_min_share <= 1, "novelty.peak_min_share", self.peak_min_share, "a number in (0, 1]")


@dataclass(frozen=True)
class DataConfig:
    name: str = doc("parabola", "Data set: parabola, hexamodal, waves or custom (from data.path).")
    path: str = doc("", "A .npy or .csv file of shape (N, D) for the custom data set.")
    n: int = doc(10000, "Training points drawn from a synthetic data set.")
    standardise: bool = doc(False, "Train on per-column standardised data; samples are mapped back to data space.")
    test_fraction: float = doc(0.2, "Custom data: fraction held out as the reference set of the metrics.")

    def __post_init__(self) -> None:
        _one_of("data.name", self.name, ("parabola", "hexamodal", "waves", "custom"))
        _require(self.name != "custom" or bool(self.path), "data.path", self.path,
                 "a .npy or .csv file when data.name is custom")
        _require(self.n >= 2, "data.n", self.n, "an integer >= 2")
        _require(0 < self.test_fraction < 1, "data.test_fraction", self.test_fraction, "a number in (0, 1)")


@dataclass(frozen=True)
class GenerativeConfig:
    models: tuple[str, ...] = doc(wm_table.compared_models(), "Models trained and compared.")
    steps: int = doc(800, "Optimiser steps per model.")
    batch_size: int = doc(0, "Batch per step (0: the full training set every step).")
    fresh_batches: bool = doc(False, "Synthetic data: draw a fresh batch from the generator every step.")
    samples: int = doc(20000, "Samples drawn from every model (and fresh true samples for the metrics).")
    sample_init: str = doc("prior", "Chain start for rae, mc_ae, dae: prior (decode prior codes) or "
                           "uniform (uniform points in the data's bounding box).")
    overrides: dict = doc({}, "Per-model world_model settings, e.g. {gan: {lr: 0.0002}, rae: {sample_steps: 77}}.")
    max_metric_points: int = doc(4000, "Subsample cap of the O(n^2) metrics (energy distance, MMD).")

    def __post_init__(self) -> None:
        names = wm_table.model_names()
        for m in self.models:
            _one_of("generative.models[]", m, names)
        _require(len(self.models) >= 1, "generative.models", self.models, "at least one model")
        _require(self.steps >= 1, "generative.steps", self.steps, "an integer >= 1")
        _require(self.batch_size >= 0, "generative.batch_size", self.batch_size, "an integer >= 0")
        _require(self.samples >= 2, "generative.samples", self.samples, "an integer >= 2")
        _one_of("generative.sample_init", self.sample_init, ("prior", "uniform"))
        _require(self.max_metric_points >= 2, "generative.max_metric_points", self.max_metric_points,
                 "an integer >= 2")
        for m, kw in self.overrides.items():
            _one_of("generative.overrides key", m, names)
            _require(isinstance(kw, dict), f"generative.overrides.{m}", kw, "a mapping of world_model keys")
