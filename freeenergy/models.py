"""Build world models by name from the table in :mod:`freeenergy.model_table`.

The public way to make a model::

    build_world_model("rae", input_dim, hidden=64, passes=2)

accepts exactly the options of the model's row (the keys of the
``world_model`` config section it reads), so the Python API, the config
and every run kind share one set of names, defaults and checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from freeenergy import entry_points
from freeenergy import model_table as table
from freeenergy.model_table import WORLD_MODELS  # noqa: F401  (re-exported: name -> ModelSpec)
from freeenergy.world_model import WorldModel


def model_class(name: str) -> type[WorldModel]:
    """The class of world model ``name`` (imported from its entry point)."""
    cls: type[WorldModel] = entry_points.load(table.spec(name).entry)
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


def load_world_model(path: str | Path, device: str | torch.device = "cpu") -> WorldModel:
    """Rebuild a model written by ``save`` (``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"world-model file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, foreign pickle, ...
        raise ValueError(f"cannot read world-model file {path}: {exc}") from exc
    if not isinstance(blob, dict) or not {"class", "kwargs", "state_dict"} <= set(blob):
        raise ValueError(
            f"{path} is not a saved world model (expected keys 'class', 'kwargs', 'state_dict')"
        )
    name = blob.get("name") or next(
        (n for n, s in table.WORLD_MODELS.items() if s.entry.endswith(f":{blob['class']}")), None)
    if name not in table.WORLD_MODELS:
        raise ValueError(f"{path}: unknown world-model class {blob['class']!r}; "
                         f"valid: {', '.join(table.WORLD_MODELS)}")
    kwargs = _legacy_kwargs(name, dict(blob["kwargs"]))
    model = build_world_model(name, kwargs.pop("input_dim"), device=device, **kwargs)
    model.load_state_dict(blob["state_dict"])
    return model


def _legacy_kwargs(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    """Keyword names of files saved before the options table (``lam``, ``walkback``, None steps)."""
    renames = {"lam": "code_penalty", "walkback": "passes"}
    if name == "mc_ae":
        renames["corruption"] = "chain_corruption"
    kw = {renames.get(k, k): v for k, v in kw.items()}
    for key in ("sample_steps", "complete_steps"):
        if key in kw and kw[key] is None:
            kw[key] = 0
    if name == "gan" and kw.get("disc_hidden") is None and "disc_hidden" in kw:
        kw["disc_hidden"] = []
    return kw
