"""The world-model interface shared by the RAE and its relatives.

A world model learns a density over vectors ``x`` of shape ``(B, D)`` and
offers:

- ``loss(x, weights=None) -> (total, metrics)``: the training objective, a
  scalar plus named terms (each a detached tensor), importance-weighted when
  ``weights`` ``(B,)`` are given;
- ``fit_step(x, weights=None) -> dict[str, float]``: one optimiser step (the
  model owns its optimisers, ``optimisers()``, and their state,
  ``optimiser_state_dict()``); ``train_step`` is the same step with its
  metrics left on the device (no host sync, for hot loops);
- ``free_energy(x) -> (B,)``: the model's surprise about each row (its
  per-sample loss averaged over a few noise draws, without gradients);
- ``sample(n, steps) -> (n, D)``: generation by the model's own chain;
- ``complete(x, known_mask, steps) -> (B, D)``: pattern completion, iterating
  the model while keeping the known entries exactly;
- ``encode``/``decode`` and ``save``/``load``.

Every model is a row of :mod:`freeenergy.model_table` (its name, class and
options), so that ``freeenergy.models.load_world_model`` can rebuild any of them from a file
written by ``save``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from freeenergy import model_table as table


class WorldModel(nn.Module):
    """Base class: a generative model of ``(B, D)`` vectors with a surprise.

    Subclasses implement ``encode``, ``decode``, ``per_sample_loss``,
    ``reconstruct`` (one stochastic pass, used by the sampling chain and by
    completion) and ``prior_codes``; they may override ``loss`` (default:
    weighted mean of ``per_sample_loss`` plus its named terms), ``fit_step``
    and ``optimisers``.

    Constructors are keyword-only past ``input_dim``: ``Model(input_dim, *,
    device="cpu", **options)``. The options, their defaults and what is
    valid live in :mod:`freeenergy.model_table` (one row per model); the base
    checks them, fills the defaults and keeps the result in
    ``self.options``, which ``save`` writes and ``load`` reads back.
    """

    #: Noise draws averaged by ``free_energy`` (1 for deterministic models).
    free_energy_draws: int = 4
    #: Default chain length of ``sample``.
    default_sample_steps: int = 1
    #: Default number of iterations of ``complete``.
    default_complete_steps: int = 5

    def __init__(self, input_dim: int, **options: Any) -> None:
        super().__init__()
        if int(input_dim) < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        self.options: dict[str, Any] = table.resolve(self.registered_name(), options)
        self.input_dim = int(input_dim)
        self.lr = float(self.options["lr"])
        self._optimiser: torch.optim.Optimizer | None = None

    @classmethod
    def registered_name(cls) -> str:
        """This class's name in :data:`freeenergy.model_table.WORLD_MODELS`."""
        name = table.name_of_entry(f"{cls.__module__}:{cls.__qualname__}")
        if name is None:
            raise TypeError(f"{cls.__qualname__} is not in the world-model table; add a row with "
                            "freeenergy.model_table.register_world_model")
        return name

    # ------------------------------------------------------------------ basics
    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.parameters()).device

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments (without ``device``), as saved by ``save``: ``input_dim`` and every option."""
        return {"input_dim": self.input_dim, **self.options}

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
    def loss(self, x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar objective and its named terms (each detached), over batch ``x`` ``(B, D)``.

        Without ``weights`` the batch mean of ``per_sample_loss``; with
        importance ``weights`` ``(B,)`` the weighted mean, the weights scaled
        to mean 1 so that the step size does not depend on their scale.
        """
        x = self._check_x(x)
        per, terms = self.per_sample_loss(x)
        w = normalised_weights(weights, per)

        def mean(t: Tensor) -> Tensor:
            return t.mean() if w is None else (t * w).mean()

        total = mean(per)
        metrics = {"loss": total.detach()}
        metrics.update({k: mean(v).detach() for k, v in terms.items()})
        return total, metrics

    def optimiser(self) -> torch.optim.Optimizer:
        """The model's Adam optimiser (created on first use)."""
        if self._optimiser is None:
            self._optimiser = torch.optim.Adam(self.parameters(), lr=self.lr)
        return self._optimiser

    def optimisers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser the model steps, by name (created on first use)."""
        return {"adam": self.optimiser()}

    def optimiser_state_dict(self) -> dict[str, Any]:
        """The state of every optimiser, for checkpoints."""
        return {k: opt.state_dict() for k, opt in self.optimisers().items()}

    def load_optimiser_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``optimiser_state_dict`` returned."""
        opts = self.optimisers()
        if "param_groups" in state and len(opts) == 1:  # a single optimiser's state, as older checkpoints hold
            state = {next(iter(opts)): state}
        if set(state) != set(opts):
            raise ValueError(f"{type(self).__name__} optimiser state has {sorted(state)}; expected {sorted(opts)}")
        for k, opt in opts.items():
            opt.load_state_dict(state[k])

    def fit_step(self, x: Tensor, weights: Tensor | None = None) -> dict[str, float]:
        """One gradient step on batch ``x`` ``(B, D)`` (optionally importance-weighted, ``(B,)``).

        Returns the metrics of ``loss`` as floats; a loss that is not finite raises
        ``FloatingPointError`` before the step.
        """
        return {k: float(v) for k, v in self.train_step(x, weights, check=True).items()}

    def train_step(self, x: Tensor, weights: Tensor | None = None, check: bool = False) -> dict[str, Tensor]:
        """``fit_step`` without reading anything back to the host: the metrics as detached 0-d tensors.

        A hot loop on a GPU calls this and reads the metrics when it reports them (it then
        checks that ``loss`` is finite); ``check`` reads the loss now, as ``fit_step`` does.
        """
        opt = self.optimiser()
        opt.zero_grad(set_to_none=True)
        total, metrics = self.loss(x, weights)
        if check and not torch.isfinite(total):
            raise FloatingPointError(f"{type(self).__name__} loss is {total.item()}; lower lr?")
        total.backward()
        opt.step()
        return metrics

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
        """Write ``{"name", "class", "kwargs", "state_dict"}`` to ``path`` (torch format)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        tmp = path.with_name(path.name + ".tmp")
        blob = {"name": self.registered_name(), "class": type(self).__name__, "kwargs": self.init_kwargs,
                "state_dict": state}
        torch.save(blob, tmp)
        tmp.replace(path)


def normalised_weights(weights: Tensor | None, like: Tensor) -> Tensor | None:
    """Importance weights ``(B,)`` on ``like``'s device and dtype, scaled to mean 1 (None stays None)."""
    if weights is None:
        return None
    w = weights.to(like.device, like.dtype).reshape(-1)
    if w.shape[0] != like.shape[0]:
        raise ValueError(f"weights must have shape ({like.shape[0]},), got {tuple(weights.shape)}")
    return w / w.mean().clamp_min(1e-12)


def code_penalty(z: Tensor) -> Tensor:
    """Mean squared code per row: ``(B, C) -> (B,)``."""
    return z.pow(2).mean(-1)


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error per row: ``(B, D), (B, D) -> (B,)``."""
    return (x - x_hat).pow(2).mean(-1)

