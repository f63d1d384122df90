"""Small MLP builder shared by the world models."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
    "identity": nn.Identity,
}


def activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (see ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}"
        ) from None


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    act: str = "relu",
    out_act: str = "linear",
) -> nn.Sequential:
    """Fully connected net ``in_dim -> hidden[0] -> ... -> out_dim``.

    Every hidden layer is followed by ``act``; the output by ``out_act``.
    Input ``(B, in_dim)``, output ``(B, out_dim)``.
    """
    if in_dim < 1 or out_dim < 1 or any(h < 1 for h in hidden):
        raise ValueError(
            f"layer widths must be positive, got in={in_dim}, hidden={list(hidden)}, out={out_dim}"
        )
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        width = h
    layers.append(nn.Linear(width, out_dim))
    if out_act not in ("linear", "identity"):
        layers.append(activation(out_act))
    return nn.Sequential(*layers)
