"""The world-model table: every model's name, entry point and constructor options, once.

Two tables, read by everything that builds or documents a world model (the
constructors, :func:`freeenergy.models.build_world_model`, the ``world_model``
config section, ``freeenergy show --docs`` and every run kind):

- ``OPTIONS``: option name -> :class:`Option` (type, default, doc, what is
  valid). An option is a constructor keyword of the models that use it and,
  under the same name, a key of the ``world_model`` config section.
- ``WORLD_MODELS``: model name -> :class:`ModelSpec` (``"module:Class"``
  entry point, imported on first use, and the options its constructor reads).

Adding a world model is one row: write the class (a :class:`WorldModel`
whose constructor takes ``input_dim, *, device, **options`` and reads
``self.options``), then ``register_world_model("rae_x", ModelSpec(...))`` next
to it or add the row to ``WORLD_MODELS`` below; a new option is one
``register_option`` call (or one row of ``OPTIONS``). This module imports no
torch, so the config can read it cheaply.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from freeenergy.settings import Rule, at_least, between, one_of  # noqa: F401 (the table's rules)
from freeenergy.settings import widths as width_rule

ACTIVATION_NAMES = ("relu", "tanh", "sigmoid", "elu", "gelu", "softplus", "leaky_relu", "linear")
PRIORS = ("normal", "uniform")


@dataclass(frozen=True)
class Option:
    """One constructor option of the world models.

    Attributes:
        type: the Python type of its values (``int | tuple[int, ...]`` for a width or widths).
        default: the value when nobody sets it.
        doc: one sentence for ``show --docs`` and the API docs.
        valid: what is valid, in words, for error messages ("an integer >= 1").
        check: ``value -> bool``, True when the value is valid.
    """

    type: Any
    default: Any
    doc: str
    valid: str
    check: Callable[[Any], bool]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_widths = width_rule()[1]


def option(type_: Any, default: Any, doc: str, rule: Rule) -> Option:
    """An :class:`Option` from a ``(valid, check)`` rule such as ``at_least(1, integer=True)``."""
    return Option(type_, default, doc, rule[0], rule[1])


OPTIONS: dict[str, Option] = {
    "hidden": option(int | tuple[int, ...], 128, "Width of the hidden layers, or a list of widths "
                     "(then depth is unused).", ("an integer >= 1 or a list of them", _widths)),
    "depth": option(int, 1, "Hidden layers in the encoder and in the decoder.", at_least(1, True)),
    "code_dim": option(int, 6, "Size of the latent code.", at_least(1, True)),
    "passes": option(int, 3, "RAE passes K (shared weights) / walk-back steps of the DAE.", at_least(1, True)),
    "sigma": option(float, 0.1, "Gaussian noise on the code at every pass.", at_least(0)),
    "code_penalty": option(float, 0.03, "Weight of the mean squared code penalty.", at_least(0)),
    "lr": option(float, 1e-3, "Adam learning rate.", between(0, 1, "()")),
    "activation": option(str, "relu", "Hidden-layer activation: relu, tanh, sigmoid, elu, gelu, softplus, "
                         "leaky_relu.", one_of(*ACTIVATION_NAMES)),
    "code_activation": option(str, "linear", "Activation of the code layer (linear or sigmoid, ...; not the "
                              "VAE/GAN).", one_of(*ACTIVATION_NAMES)),
    "output_activation": option(str, "linear", "Activation of the output layer (sigmoid for data in [0, 1]).",
                                one_of(*ACTIVATION_NAMES)),
    "prior": option(str, "normal", "Starting codes for sampling: normal (N(0, I)) or uniform (U(0, 1), "
                    "sigmoid codes).", one_of(*PRIORS)),
    "sample_steps": option(int, 0, "Decodes in the sampling chain of the RAE and DAE (0: the model's default: "
                           "passes for the RAE, 20 for the DAE).", at_least(0, True)),
    "complete_steps": option(int, 0, "Iterations of clamped pattern completion (0: the model's default: "
                             "passes for the RAE, 5 for the others).", at_least(0, True)),
    "chain_steps": option(int, 5, "MC-resampled AE: decode-encode rounds after the first decode.",
                          at_least(0, True)),
    "chain_corruption": option(float, 0.0, "MC-resampled AE: std of Gaussian noise on x before each encode.",
                               at_least(0)),
    "corruption": option(float, 0.5, "Walk-back DAE: std of the Gaussian corruption in data space.", at_least(0)),
    "beta": option(float, 1.0, "VAE: weight of the KL term.", at_least(0)),
    "obs_var": option(float, 0.1, "VAE: variance of the Gaussian likelihood.", ("a number > 0",
                                                                                lambda v: _num(v) and v > 0)),
    "smoothing": option(float, 0.1, "GAN: one-sided label smoothing of the real targets.", between(0, 1, "[)")),
    "disc_hidden": option(tuple[int, ...], (), "GAN: hidden widths of the discriminator (empty: those of the "
                          "generator).", ("a list of integers >= 1", lambda v: isinstance(v, (list, tuple))
                                          and all(_int(h) and h >= 1 for h in v))),
    "search_steps": option(int, 50, "GAN: Adam steps of the latent search behind encode and complete.",
                           at_least(1, True)),
    "prior_components": option(int, 10, "RAE-GMM: largest number of mixture components of the code prior "
                               "(chosen by BIC).", at_least(1, True)),
    "prior_points": option(int, 10000, "RAE-GMM: training rows kept for the lazy fit of the code prior.",
                           at_least(1, True)),
    "prior_refit_every": option(int, 1000, "RAE-GMM: training steps after which the next sample refits the "
                                "code prior.", at_least(1, True)),
    "condition_dim": option(int, 0, "RAE family: leading entries of x that condition the trained completion "
                            "of the rest (e.g. obs_t and action_t of [obs_t, action_t, obs_t+1]); 0: none.",
                            at_least(0, True)),
    "condition_weight": option(float, 1.0, "RAE family: weight of the conditional completion's energy score.",
                               at_least(0)),
    "search_lr": option(float, 0.05, "GAN: learning rate of that latent search.", ("a number > 0",
                                                                                   lambda v: _num(v) and v > 0)),
}

#: Options every model reads (the network shape and the optimiser).
COMMON = ("hidden", "depth", "code_dim", "lr", "activation", "output_activation")
#: Options of the autoencoders with a deterministic code layer and a code penalty.
AUTOENCODER = COMMON + ("code_penalty", "code_activation", "prior", "complete_steps")
#: Options of the recurrent autoencoders (the RAE family).
RAE_OPTIONS = AUTOENCODER + ("passes", "sigma", "sample_steps", "condition_dim", "condition_weight")


@dataclass(frozen=True)
class ModelSpec:
    """One world model: where its class lives and which options it reads.

    Attributes:
        entry: ``"package.module:Class"``, imported on first use.
        uses: the option names its constructor reads (keys of ``OPTIONS``).
        doc: one line for listings.
        chain: ``sample`` is a chain that can start from data-space points (``x0``).
        compared: trained by default in the generative comparison (``generative.models``).
    """

    entry: str
    uses: tuple[str, ...]
    doc: str = ""
    chain: bool = False
    compared: bool = False


WORLD_MODELS: dict[str, ModelSpec] = {
    "rae": ModelSpec("freeenergy.rae:RAE", RAE_OPTIONS,
                     "Recurrent autoencoder: K noisy passes with shared weights.", chain=True, compared=True),
    "rae_gmm": ModelSpec("freeenergy.rae_gmm:RAEGMM", RAE_OPTIONS + ("prior_components", "prior_points",
                                                                  "prior_refit_every"),
                         "RAE whose sampling starts from a Gaussian mixture fitted to its codes.", compared=True),
    "ae": ModelSpec("freeenergy.ae:AE", AUTOENCODER, "Plain autoencoder (one deterministic pass).", compared=True),
    "mc_ae": ModelSpec("freeenergy.mc_ae:MCAE", AUTOENCODER + ("chain_steps", "chain_corruption"),
                       "Autoencoder sampled by a decode-encode Markov chain.", chain=True, compared=True),
    "vae": ModelSpec("freeenergy.vae:VAE", COMMON + ("beta", "obs_var", "complete_steps"),
                     "Variational autoencoder.", compared=True),
    "dae": ModelSpec("freeenergy.dae:WalkbackDAE", AUTOENCODER + ("passes", "corruption", "sample_steps"),
                     "Walk-back denoising autoencoder.", chain=True, compared=True),
    "gan": ModelSpec("freeenergy.gan:GAN", COMMON + ("smoothing", "disc_hidden", "search_steps", "search_lr"),
                     "Generative adversarial network (latent search for encode/complete).", compared=True),
}


def register_option(name: str, opt: Option) -> None:
    """Add an option; a name already taken must describe the same option."""
    if name in OPTIONS and OPTIONS[name] != opt:
        raise ValueError(f"world-model option {name!r} is already registered with another definition")
    OPTIONS[name] = opt


def register_world_model(name: str, spec: ModelSpec) -> None:
    """Add a world model (duplicate names rejected; its options must exist)."""
    if name in WORLD_MODELS and WORLD_MODELS[name] != spec:
        raise ValueError(f"world model {name!r} is already registered (as {WORLD_MODELS[name].entry})")
    missing = [u for u in spec.uses if u not in OPTIONS]
    if missing:
        raise ValueError(f"world model {name!r} uses unknown option(s) {missing}; register them first")
    WORLD_MODELS[name] = spec


def model_names() -> tuple[str, ...]:
    """Registered world-model names, in table order."""
    return tuple(WORLD_MODELS)


def compared_models() -> tuple[str, ...]:
    """The models the generative comparison trains by default."""
    return tuple(n for n, s in WORLD_MODELS.items() if s.compared)


def spec(name: str) -> ModelSpec:
    """The row of world model ``name``; a ``ValueError`` names the valid ones."""
    try:
        return WORLD_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown world model {name!r}; valid: {', '.join(WORLD_MODELS)}") from None


def name_of_entry(entry: str) -> str | None:
    """The registered name whose entry point is ``entry`` (``"module:Class"``), if any."""
    return next((n for n, s in WORLD_MODELS.items() if s.entry == entry), None)


def check_value(key: str, value: Any) -> str | None:
    """None when ``value`` is valid for option ``key``, else what would be valid."""
    opt = OPTIONS[key]
    return None if opt.check(value) else opt.valid


def resolve(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Model ``name``'s complete options: ``options`` checked, the rest from the table's defaults.

    Raises ``ValueError`` (one line: the key, the value, what is valid) for
    a key the model does not read or a value out of range.
    """
    uses = spec(name).uses
    for key in options:
        if key not in uses:
            close = difflib.get_close_matches(key, uses, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            other = [n for n, s in WORLD_MODELS.items() if key in s.uses]
            where = f"; it is an option of {', '.join(other)}" if other else ""
            raise ValueError(f"world model {name!r} got unknown argument(s) [{key!r}]{hint}{where}; "
                             f"valid: {', '.join(uses)}")
    out: dict[str, Any] = {}
    for key in uses:
        value = options.get(key, OPTIONS[key].default)
        if isinstance(value, tuple):
            value = list(value)  # lists survive a YAML/JSON round trip, tuples do not
        valid = check_value(key, value)
        if valid is not None:
            raise ValueError(f"{key}={value!r} is invalid for world model {name!r}: expected {valid}")
        out[key] = value
    return out


def widths(options: dict[str, Any]) -> list[int]:
    """Hidden widths from ``hidden`` (a width, repeated ``depth`` times, or a list of widths)."""
    h = options["hidden"]
    if isinstance(h, (list, tuple)):
        return [int(v) for v in h]
    return [int(h)] * int(options.get("depth", 1))
