"""Joint transition vectors ``x = [obs_t, action_t, obs_t+1]`` for the world model.

The world model learns the joint density of a transition. Observations are
normalised by running statistics (shared by ``obs_t`` and ``obs_t+1`` so that
"the same place" has the same code on both sides); actions are one-hot for
``Discrete`` spaces and rescaled to [-1, 1] for bounded ``Box`` spaces.

Layout of ``x`` (D = 2 * obs_dim + act_dim)::

    x[:, obs]      normalised obs_t          (obs_dim)
    x[:, act]      encoded action_t          (act_dim)
    x[:, next]     normalised obs_t+1        (obs_dim)
"""
from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor


class RunningNorm:
    """Running mean / variance of ``(B, F)`` rows (Chan et al.'s batched update).

    ``std_floor`` keeps constant features (e.g. a dark room's fixed pixels)
    from being blown up by a near-zero variance.
    """

    def __init__(self, dim: int, device: torch.device | str = "cpu", std_floor: float = 0.05) -> None:
        self.device = torch.device(device)
        self.mean = torch.zeros(dim, device=self.device, dtype=torch.float64)
        self.m2 = torch.zeros(dim, device=self.device, dtype=torch.float64)
        self.count = 0.0
        self.std_floor = float(std_floor)
        self.frozen = False

    def update(self, rows: Tensor) -> None:
        """Add ``(B, F)`` rows to the statistics (no-op when frozen)."""
        if self.frozen or rows.numel() == 0:
            return
        rows = rows.detach().to(self.device, torch.float64).reshape(-1, self.mean.numel())
        n_b = float(rows.shape[0])
        mean_b = rows.mean(0)
        m2_b = ((rows - mean_b) ** 2).sum(0)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta.pow(2) * (self.count * n_b / total)
        self.count = total

    @property
    def std(self) -> Tensor:
        """``(F,)`` standard deviation, at least ``std_floor``."""
        var = self.m2 / max(self.count, 1.0)
        return var.sqrt().clamp_min(self.std_floor)

    def normalise(self, rows: Tensor) -> Tensor:
        """``(..., F) -> (..., F)`` float32, zero mean and unit spread."""
        mean, std = self.mean.float(), self.std.float()
        return (rows.to(self.device, torch.float32) - mean) / std

    def denormalise(self, rows: Tensor) -> Tensor:
        return rows.to(self.device, torch.float32) * self.std.float() + self.mean.float()

    def state_dict(self) -> dict:
        return {"mean": self.mean.cpu(), "m2": self.m2.cpu(), "count": self.count, "frozen": self.frozen}

    def load_state_dict(self, state: dict) -> None:
        self.mean = state["mean"].to(self.device, torch.float64)
        self.m2 = state["m2"].to(self.device, torch.float64)
        self.count = float(state["count"])
        self.frozen = bool(state.get("frozen", False))


class ActionCodec:
    """Actions <-> the ``(B, act_dim)`` block of ``x``.

    ``Discrete(n)``: one-hot of width n. ``Box``: rescaled to [-1, 1] when
    bounded (raw values otherwise). Other spaces are flattened as floats.
    """

    def __init__(self, space: spaces.Space, device: torch.device | str = "cpu") -> None:
        self.space = space
        self.device = torch.device(device)
        self.discrete = isinstance(space, spaces.Discrete)
        if self.discrete:
            self.n = int(space.n)
            self.start = int(space.start)
            self.dim = self.n
        elif isinstance(space, spaces.Box):
            self.dim = int(np.prod(space.shape))
            low = np.asarray(space.low, dtype=np.float64).reshape(-1)
            high = np.asarray(space.high, dtype=np.float64).reshape(-1)
            bounded = np.isfinite(low) & np.isfinite(high)
            centre = np.where(bounded, (low + high) / 2, 0.0)
            half = np.where(bounded, (high - low) / 2, 1.0)
            self.centre = torch.as_tensor(centre, dtype=torch.float32, device=self.device)
            self.half = torch.as_tensor(np.maximum(half, 1e-8), dtype=torch.float32, device=self.device)
        elif isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
            self.dim = int(np.prod(space.shape))
        else:
            raise TypeError(f"action space {space} is not supported: use Discrete, Box, MultiDiscrete "
                            f"or MultiBinary")

    def encode(self, actions: Tensor) -> Tensor:
        """Env-format actions (``(B,)`` long or ``(B, A)``) -> ``(B, act_dim)`` float32."""
        a = torch.as_tensor(actions, device=self.device)
        if self.discrete:
            idx = a.reshape(-1).long() - self.start
            return torch.nn.functional.one_hot(idx, self.n).float()
        a = a.reshape(a.shape[0], -1).float()
        if isinstance(self.space, spaces.Box):
            return (a - self.centre) / self.half
        return a

    def decode(self, codes: Tensor) -> Tensor:
        """``(B, act_dim)`` codes -> env-format actions (argmax for Discrete, clipped Box)."""
        if self.discrete:
            return codes.argmax(-1) + self.start
        if isinstance(self.space, spaces.Box):
            return (codes.clamp(-1, 1) * self.half + self.centre)
        return codes.round().long()


class TransitionEncoder:
    """Builds and normalises joint vectors ``x = [obs_t, action_t, obs_t+1]`` ``(B, D)``.

    With ``fourier = F > 0`` each normalised observation is followed by ``sin`` and
    ``cos`` of ``F`` fixed random projections of it (std ``fourier_scale`` per
    normalised unit). On a low-dimensional observation (a maze position) a smooth
    autoencoder generalises to unvisited neighbours, so its error is lowest just
    where exploration should go next; high-frequency features keep neighbouring
    places apart, and the error then falls with the visits to each place. The
    replay keeps the raw rows (``raw_dim`` wide); the model sees ``dim`` features.

    Args:
        obs_dim: width of a flattened observation.
        action_space: the single-copy Gymnasium action space.
        device: where the statistics and outputs live.
        std_floor: smallest standard deviation used to normalise a feature.
        fourier: random Fourier features per observation (0: none).
        fourier_scale: std of their frequencies.
        generator: draws the projections (reproducibility).
    """

    def __init__(self, obs_dim: int, action_space: spaces.Space, device: torch.device | str = "cpu",
                 std_floor: float = 0.05, fourier: int = 0, fourier_scale: float = 10.0,
                 generator: torch.Generator | None = None) -> None:
        if fourier < 0 or fourier_scale <= 0:
            raise ValueError(f"fourier={fourier}, fourier_scale={fourier_scale}: expected fourier >= 0 and scale > 0")
        self.device = torch.device(device)
        self.obs_dim = int(obs_dim)
        self.actions = ActionCodec(action_space, self.device)
        self.act_dim = self.actions.dim
        self.raw_dim = 2 * self.obs_dim + self.act_dim
        self.obs_norm = RunningNorm(self.obs_dim, self.device, std_floor)
        gen_device = generator.device if generator is not None else torch.device("cpu")
        proj = torch.randn(self.obs_dim, int(fourier), generator=generator, device=gen_device)
        self.proj = (proj * float(fourier_scale)).to(self.device)
        self.feature_dim = self.obs_dim + 2 * int(fourier)
        o, f, a = self.obs_dim, self.feature_dim, self.act_dim
        self.dim = 2 * f + a
        self.obs_slice = slice(0, f)
        self.act_slice = slice(f, f + a)
        self.next_slice = slice(f + a, 2 * f + a)
        #: where obs_t+1 sits in a raw (replay) row
        self.raw_next_slice = slice(o + a, 2 * o + a)
        mask = torch.zeros(self.dim, dtype=torch.bool, device=self.device)
        mask[: f + a] = True
        #: ``(D,)`` bool: entries known when predicting obs_t+1 from (obs_t, action_t).
        self.predict_mask = mask

    def raw(self, obs: Tensor, actions: Tensor, next_obs: Tensor) -> Tensor:
        """Un-normalised joint rows ``(B, raw_dim)`` (what the replay stores)."""
        obs = torch.as_tensor(obs, device=self.device, dtype=torch.float32).reshape(-1, self.obs_dim)
        nxt = torch.as_tensor(next_obs, device=self.device, dtype=torch.float32).reshape(-1, self.obs_dim)
        return torch.cat([obs, self.actions.encode(actions), nxt], dim=1)

    def update(self, obs: Tensor) -> None:
        """Add observations ``(B, obs_dim)`` to the running statistics."""
        self.obs_norm.update(torch.as_tensor(obs, device=self.device).reshape(-1, self.obs_dim))

    def features(self, obs: Tensor) -> Tensor:
        """Normalised observations ``(B, obs_dim)`` -> ``(B, feature_dim)`` (themselves, then Fourier features)."""
        if self.proj.shape[1] == 0:
            return obs
        h = obs @ self.proj
        return torch.cat([obs, h.sin(), h.cos()], 1)

    def normalise_raw(self, x_raw: Tensor) -> Tensor:
        """Raw joint rows ``(B, raw_dim)`` -> normalised model inputs ``(B, dim)`` with the current statistics."""
        x = x_raw.to(self.device, torch.float32)
        o, a = self.obs_dim, self.act_dim
        return torch.cat([self.features(self.obs_norm.normalise(x[:, :o])), x[:, o:o + a],
                          self.features(self.obs_norm.normalise(x[:, self.raw_next_slice]))], dim=1)

    def encode(self, obs: Tensor, actions: Tensor, next_obs: Tensor) -> Tensor:
        """Normalised joint rows ``(B, D)`` of a batch of transitions."""
        return self.normalise_raw(self.raw(obs, actions, next_obs))

    def normalise_obs(self, obs: Tensor) -> Tensor:
        """``(..., obs_dim)`` observations in the model's units (without Fourier features)."""
        return self.obs_norm.normalise(torch.as_tensor(obs, device=self.device))

    def state_dict(self) -> dict:
        return {"obs_norm": self.obs_norm.state_dict(), "proj": self.proj.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        self.obs_norm.load_state_dict(state["obs_norm"])
        if "proj" in state:
            self.proj = state["proj"].to(self.device)
