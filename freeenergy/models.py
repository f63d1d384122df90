"""Build world models by name from the table in :mod:`freeenergy.model_table`.

The public way to make a model::

    build_world_model("rae", input_dim, hidden=64, passes=2)

accepts exactly the options of the model's row (the keys of the
``world_model`` config section it reads), so the Python API, the config
and every run kind share one set of names, defaults and checks.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from freeenergy import model_table as table
from freeenergy.model_table import WORLD_MODELS  # noqa: F401  (re-exported: name -> ModelSpec)
from freeenergy.world_model import WorldModel


def model_class(name: str) -> type[WorldModel]:
    """The class of world model ``name`` (imported from its entry point)."""
    module, _, qualname = table.spec(name).entry.partition(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls


def model_kwargs(name: str) -> list[str]:
    """Options accepted by world model ``name`` (besides input_dim and device)."""
    return list(table.spec(name).uses)


def build_world_model(
    name: str, input_dim: int, device: str | torch.device = "cpu", **options: Any
) -> WorldModel:
    """World model ``name`` for ``(B, input_dim)`` data, with ``options`` from its table row.

    An option the model does not read, or a value out of range, raises a
    one-line ``ValueError`` naming the key, the value and what is valid.
    """
    table.resolve(name, options)  # fail before importing or allocating anything
    return model_class(name)(input_dim, device=device, **options)


def options_for(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The options of model ``name`` taken from ``settings`` (a whole ``world_model`` config section).

    Keys the model does not read (other models' options, ``name``,
    ``batch_size``) are left out; nothing is renamed or re-defaulted.
    """
    uses = table.spec(name).uses
    return {k: v for k, v in settings.items() if k in uses}


def build_from_settings(
    name: str, input_dim: int, settings: dict[str, Any], device: str | torch.device = "cpu"
) -> WorldModel:
    """``build_world_model`` from a whole config section (see ``options_for``)."""
    return build_world_model(name, input_dim, device=device, **options_for(name, settings))
