"""Registry of world models: name -> class, and a builder."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from freeenergy.ae import AE
from freeenergy.dae import WalkbackDAE
from freeenergy.gan import GAN
from freeenergy.mc_ae import MCAE
from freeenergy.rae import RAE
from freeenergy.rae_gmm import RAEGMM
from freeenergy.vae import VAE
from freeenergy.world_model import WorldModel

WORLD_MODELS: dict[str, type[WorldModel]] = {
    "rae": RAE,
    "rae_gmm": RAEGMM,
    "ae": AE,
    "mc_ae": MCAE,
    "vae": VAE,
    "dae": WalkbackDAE,
    "gan": GAN,
}


def model_kwargs(name: str) -> list[str]:
    """Constructor arguments accepted by world model ``name`` (besides input_dim, device)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "input_dim", "device")]


def _lookup(name: str) -> type[WorldModel]:
    try:
        return WORLD_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown world model {name!r}; valid: {sorted(WORLD_MODELS)}") from None


def build_world_model(
    name: str, input_dim: int, device: str | torch.device = "cpu", **kwargs: Any
) -> WorldModel:
    """Build world model ``name`` for ``(B, input_dim)`` data.

    Unknown keyword arguments raise a ``ValueError`` naming the valid ones.
    """
    cls = _lookup(name)
    valid = model_kwargs(name)
    bad = sorted(set(kwargs) - set(valid))
    if bad:
        raise ValueError(f"world model {name!r} got unknown argument(s) {bad}; valid: {valid}")
    return cls(input_dim, device=device, **kwargs)


def options_to_kwargs(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Map the generic world-model options to model ``name``'s constructor arguments.

    ``options`` holds the flat settings of a config section (``hidden`` width,
    ``depth``, ``code_dim``, ``passes``, ``sigma``, ``code_penalty``, ``lr``,
    activations, ``prior``, ``sample_steps``, ``complete_steps``,
    ``chain_steps``, ``chain_corruption``, ``corruption``, ``beta``,
    ``obs_var``, ``smoothing``); missing ones keep the model's default and
    ones a model does not use are dropped. ``passes`` is the RAE's ``K`` and
    the DAE's walk-back length; step counts of 0 mean "the model's default".
    """
    o = dict(options)
    kw: dict[str, Any] = {}
    if "hidden" in o or "depth" in o:
        kw["hidden"] = [int(o.get("hidden", 128))] * int(o.get("depth", 1))
    renames = {
        "code_dim": "code_dim",
        "lr": "lr",
        "code_penalty": "lam",
        "activation": "activation",
        "code_activation": "code_activation",
        "output_activation": "output_activation",
        "prior": "prior",
        "beta": "beta",
        "obs_var": "obs_var",
        "smoothing": "smoothing",
        "chain_steps": "chain_steps",
    }
    for src, dst in renames.items():
        if src in o:
            kw[dst] = o[src]
    if name.startswith("rae"):
        for key in ("passes", "sigma"):
            if key in o:
                kw[key] = o[key]
    if name == "dae":
        if "passes" in o:
            kw["walkback"] = o["passes"]
        if "corruption" in o:
            kw["corruption"] = o["corruption"]
    if name == "mc_ae" and "chain_corruption" in o:
        kw["corruption"] = o["chain_corruption"]
    for key in ("sample_steps", "complete_steps"):
        if o.get(key):
            kw[key] = int(o[key])
    valid = set(model_kwargs(name))
    return {k: v for k, v in kw.items() if k in valid}


def build_from_options(
    name: str, input_dim: int, options: dict[str, Any], device: str | torch.device = "cpu"
) -> WorldModel:
    """``build_world_model`` from generic options (see ``options_to_kwargs``)."""
    return build_world_model(name, input_dim, device=device, **options_to_kwargs(name, options))
