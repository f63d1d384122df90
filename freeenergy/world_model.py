"""The world-model interface shared by the RAE and its relatives.

A world model learns a density over vectors ``x`` of shape ``(B, D)`` and
offers:

- ``loss(x) -> (total, metrics)``: the training objective, a scalar plus named
  terms (each a detached tensor);
- ``fit_step(x) -> dict[str, float]``: one optimiser step (the model owns an
  Adam optimiser with learning rate ``lr``, created on first use);
- ``free_energy(x) -> (B,)``: the model's surprise about each row (its
  per-sample loss averaged over a few noise draws, without gradients);
- ``sample(n, steps) -> (n, D)``: generation by the model's own chain;
- ``complete(x, known_mask, steps) -> (B, D)``: pattern completion, iterating
  the model while keeping the known entries exactly;
- ``encode``/``decode`` and ``save``/``load``.

Subclasses register themselves by class name so that ``WorldModel.load`` can
rebuild any of them from a file written by ``save``.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class WorldModel(nn.Module):
    """Base class: a generative model of ``(B, D)`` vectors with a surprise.

    Subclasses implement ``encode``, ``decode``, ``per_sample_loss``,
    ``reconstruct`` (one stochastic pass, used by the sampling chain and by
    completion) and ``prior_codes``; they may override ``loss`` (default: mean
    of ``per_sample_loss`` plus its named terms) and ``fit_step``.

    The constructor's arguments are recorded automatically (excluding
    ``device``) so that ``save`` can write them and ``load`` can rebuild the
    model; they must therefore be plain numbers, strings, booleans or
    lists/tuples of them.
    """

    _registry: dict[str, type[WorldModel]] = {}

    #: Noise draws averaged by ``free_energy`` (1 for deterministic models).
    free_energy_draws: int = 4
    #: Default chain length of ``sample``.
    default_sample_steps: int = 1
    #: Default number of iterations of ``complete``.
    default_complete_steps: int = 5

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        WorldModel._registry[cls.__name__] = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> WorldModel:
        obj = super().__new__(cls)
        try:
            bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
        except TypeError:
            # copy/pickle call __new__ without arguments and restore __dict__ after.
            object.__setattr__(obj, "_init_kwargs", {})
            return obj
        bound.apply_defaults()
        init_kwargs = dict(bound.arguments)
        init_kwargs.pop("self", None)
        init_kwargs.pop("device", None)
        # Tuples would not survive a JSON/YAML round trip; lists do.
        init_kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in init_kwargs.items()}
        object.__setattr__(obj, "_init_kwargs", init_kwargs)
        return obj

    def __init__(self, input_dim: int, lr: float = 1e-3) -> None:
        super().__init__()
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.input_dim = int(input_dim)
        self.lr = float(lr)
        self._optimiser: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ basics
    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.parameters()).device

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (without ``device``), as saved by ``save``."""
        return dict(self._init_kwargs)

    def _check_x(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (B, {self.input_dim}), got {tuple(x.shape)}"
            )
        return x.to(device=self.device, dtype=torch.float32)

    def _randn(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        return torch.randn(shape, device=self.device, generator=generator)

    # ------------------------------------------------------- subclass contract
    def encode(self, x: Tensor) -> Tensor:
        """Code of ``x``: ``(B, D) -> (B, C)`` (deterministic part)."""
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        """Data-space point of code ``z``: ``(B, C) -> (B, D)``."""
        raise NotImplementedError

    def per_sample_loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Unreduced training objective: ``(B,)`` plus named ``(B,)`` terms."""
        raise NotImplementedError

    def reconstruct(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One stochastic pass of the model's chain: ``(B, D) -> (B, D)``."""
        raise NotImplementedError

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Starting codes for ``sample``: ``(n, C)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- training
    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar objective (batch mean) and its batch-mean named terms."""
        x = self._check_x(x)
        per, terms = self.per_sample_loss(x)
        metrics = {"loss": per.mean().detach()}
        metrics.update({k: v.mean().detach() for k, v in terms.items()})
        return per.mean(), metrics

    def optimiser(self) -> torch.optim.Optimizer:
        """The model's Adam optimiser (created on first use)."""
        if self._optimiser is None:
            self._optimiser = torch.optim.Adam(self.parameters(), lr=self.lr)
        return self._optimiser

    def fit_step(self, x: Tensor) -> dict[str, float]:
        """One gradient step on batch ``x`` ``(B, D)``; returns the metrics as floats."""
        opt = self.optimiser()
        opt.zero_grad(set_to_none=True)
        total, metrics = self.loss(x)
        if not torch.isfinite(total):
            raise FloatingPointError(f"{type(self).__name__} loss is {total.item()}; lower lr?")
        total.backward()
        opt.step()
        return {k: float(v) for k, v in metrics.items()}

    # ---------------------------------------------------------------- surprise
    @torch.no_grad()
    def free_energy(self, x: Tensor, draws: int | None = None) -> Tensor:
        """Surprise of each row: per-sample loss averaged over noise draws, ``(B,)``.

        The draws are stacked into one batch, so the cost is one forward
        pass of ``draws * B`` rows.
        """
        x = self._check_x(x)
        draws = self.free_energy_draws if draws is None else int(draws)
        if draws < 1:
            raise ValueError(f"draws must be >= 1, got {draws}")
        b = x.shape[0]
        per, _ = self.per_sample_loss(x.repeat(draws, 1))
        return per.view(draws, b).mean(0)

    # -------------------------------------------------------------- generation
    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        x0: Tensor | None = None,
    ) -> Tensor:
        """Draw ``n`` samples ``(n, D)`` by running the model's chain.

        Without ``x0`` the chain starts by decoding ``prior_codes`` (that
        decode counts as the first of ``steps``); with ``x0`` ``(n, D)`` it
        starts from those data-space points and applies ``reconstruct``
        ``steps`` times. ``generator`` (on the model's device) makes the draw
        reproducible.
        """
        steps = self.default_sample_steps if steps is None else int(steps)
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if x0 is None:
            x = self.decode(self.prior_codes(int(n), generator))
            steps -= 1
        else:
            x = self._check_x(x0)
        for _ in range(steps):
            x = self.reconstruct(x, generator)
        return x

    @torch.no_grad()
    def complete(
        self,
        x: Tensor,
        known_mask: Tensor,
        steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Pattern completion: iterate ``reconstruct`` clamping known entries.

        ``x`` ``(B, D)`` holds the known values (unknown entries are the
        chain's starting guess); ``known_mask`` ``(B, D)`` or ``(D,)`` bool.
        After every pass the known entries are written back exactly, so the
        returned ``(B, D)`` equals ``x`` wherever the mask is true.
        """
        x = self._check_x(x)
        mask = known_mask.to(device=self.device, dtype=torch.bool)
        if mask.shape[-1] != self.input_dim or mask.dim() > 2:
            raise ValueError(
                f"known_mask must have shape (B, {self.input_dim}) or ({self.input_dim},), "
                f"got {tuple(mask.shape)}"
            )
        mask = mask.expand_as(x)
        steps = self.default_complete_steps if steps is None else int(steps)
        cur = x
        for _ in range(steps):
            cur = torch.where(mask, x, self.reconstruct(cur, generator))
        return cur

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write ``{"class", "kwargs", "state_dict"}`` to ``path`` (torch format)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"class": type(self).__name__, "kwargs": self.init_kwargs, "state_dict": state}, tmp)
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path, device: str | torch.device = "cpu") -> WorldModel:
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
        import freeenergy.models  # noqa: F401  (fills the registry)

        cls = WorldModel._registry.get(blob["class"])
        if cls is None:
            raise ValueError(
                f"{path}: unknown world-model class {blob['class']!r}; "
                f"valid: {sorted(WorldModel._registry)}"
            )
        model = cls(**blob["kwargs"], device=device)
        model.load_state_dict(blob["state_dict"])
        return model


def code_penalty(z: Tensor) -> Tensor:
    """Mean squared code per row: ``(B, C) -> (B,)``."""
    return z.pow(2).mean(-1)


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error per row: ``(B, D), (B, D) -> (B,)``."""
    return (x - x_hat).pow(2).mean(-1)

