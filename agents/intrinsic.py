"""Intrinsic rewards of a rollout for the amortised agent, normalised the way RND does.

A *rollout source* scores a whole rollout at once, ``T`` steps x ``N`` copies
in one batch, and learns from it:

- :class:`WorldModelBonus`: a surprise term of :mod:`agents.terms` (total,
  epistemic, aleatoric, predicted) of each real transition under the online
  world model, which then fits on replay (it keeps minimising surprise);
- :class:`RNDBonus`: random network distillation as published (Burda et al.
  2018): predictor vs fixed random target on the normalised, clipped next
  observation; the predictor trains on a random share of each PPO minibatch;
- :class:`CountBonus`: ``1 / sqrt(n)`` of the map cell reached, exact counts;
- :class:`NoBonus`: zeros (PPO on the extrinsic reward alone).

:class:`ReturnNormaliser` divides rewards by the running standard deviation of
the discounted, non-episodic intrinsic return (RND's ``RewardForwardFilter``),
so the bonus keeps its scale while the surprise behind it shrinks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agents.encoding import RunningNorm
from agents.online import OnlineWorldModel
from agents.terms import SURPRISE_TERMS, StepPrediction, model_epistemic

CHUNK = 32768  # rows scored per forward pass (bounds memory at large T * N)


@dataclass
class Rollout:
    """A rollout's transitions, ``T`` steps x ``N`` copies flattened to ``B = T * N`` rows.

    obs, next_obs: ``(B, O)`` raw; next_norm: ``(B, O)`` next obs normalised and clipped;
    actions: ``(B,)``; map_xy: ``(B, 2)`` of next_obs, when the env reports it.
    """

    obs: Tensor
    actions: Tensor
    next_obs: Tensor
    next_norm: Tensor
    map_xy: Tensor | None = None


class ReturnNormaliser:
    """Running std of discounted intrinsic returns ``R_t = gamma R_t-1 + r_t`` per copy.

    ``__call__(rewards (T, N)) -> (T, N)`` rewards divided by that std (no mean
    is removed, so the sign of a reward is kept).
    """

    def __init__(self, *, num_envs: int, gamma: float, device: torch.device) -> None:
        self.gamma = float(gamma)
        self.returns = torch.zeros(num_envs, device=device, dtype=torch.float64)
        self.norm = RunningNorm(1, device, std_floor=1e-8)

    def __call__(self, rewards: Tensor) -> Tensor:
        seen = torch.empty_like(rewards, dtype=torch.float64)
        for t in range(rewards.shape[0]):  # over steps only: copies stay one tensor
            self.returns = self.returns * self.gamma + rewards[t].double()
            seen[t] = self.returns
        self.norm.update(seen.reshape(-1, 1))
        return rewards / self.norm.std.float()

    @property
    def std(self) -> float:
        return float(self.norm.std)

    def state_dict(self) -> dict:
        return {"returns": self.returns.cpu(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.returns = state["returns"].to(self.returns.device)
        self.norm.load_state_dict(state["norm"])


class NoBonus:
    """No intrinsic reward."""

    world = None

    def score(self, r: Rollout) -> Tensor:
        return torch.zeros(r.obs.shape[0], device=r.obs.device)

    def learn(self, steps: int) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class WorldModelBonus(NoBonus):
    """A surprise term of each real transition under the online world model.

    ``total``: the free energy of the real ``[obs, action, next_obs]`` (mean over
    members); ``epistemic``: the world models' own estimate where they have one
    (``rae_gmm``'s code novelty of the completions), else the members' (or noise
    draws') disagreement about ``next_obs`` given ``(obs, action)``;
    ``aleatoric``: total - disagreement;
    ``predicted``: the surprise head's estimate. The transitions are already in
    the world's replay (the agent adds them as they arrive); ``learn`` fits.
    ``complete_init``: the completion's first guess of ``next_obs``, ``obs`` (no
    change) or ``mean`` (the running mean observation).
    """

    def __init__(self, *, world: OnlineWorldModel, surprise: str, draws: int = 1, fe_draws: int = 1,
                 complete_steps: int | None = None, complete_init: str = "obs") -> None:
        if surprise not in SURPRISE_TERMS:
            raise ValueError(f"surprise={surprise!r} is invalid: expected one of {', '.join(SURPRISE_TERMS)}")
        self.world = world
        self.surprise = surprise
        if complete_init not in ("obs", "mean"):
            raise ValueError(f"complete_init={complete_init!r} is invalid: expected 'obs' or 'mean'")
        self.draws, self.fe_draws, self.complete_steps = int(draws), int(fe_draws), complete_steps
        self.complete_init = complete_init
        self.free_energy: Tensor | None = None  # (B,) free energy of the last scored rollout

    @torch.no_grad()
    def score(self, r: Rollout) -> Tensor:
        x = self.world.encoder.encode(r.obs, r.actions, r.next_obs)
        parts = [self._score(x[i:i + CHUNK]) for i in range(0, x.shape[0], CHUNK)]
        self.free_energy = torch.cat([p[1] for p in parts])
        return torch.cat([p[0] for p in parts])

    def _score(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The surprise term ``(B,)`` and the free energy ``(B,)`` of rows ``x``."""
        fe = torch.stack([m.free_energy(x, self.fe_draws) for m in self.world.members])  # (E, B)
        return self._term(x, fe), fe.mean(0)

    def _term(self, x: Tensor, fe: Tensor) -> Tensor:
        world, enc = self.world, self.world.encoder
        if self.surprise == "total":
            return fe.mean(0)
        known = x[:, : enc.next_slice.start]
        if self.surprise == "predicted":
            return SURPRISE_TERMS["predicted"](StepPrediction(x[None, None], fe[:, None], enc.next_slice,
                                                              world.surprise_head(known)))
        start = x[:, enc.obs_slice] if self.complete_init == "obs" else torch.zeros_like(x[:, enc.obs_slice])
        guess = torch.cat([known, start], 1).repeat(self.draws, 1)  # obs_t+1 starts at obs_t or the mean
        comp = world.complete(guess, enc.predict_mask, self.complete_steps)  # (E, M * B, D)
        e, b = comp.shape[0], x.shape[0]
        epistemic = model_epistemic(world.members, comp, self.draws) if self.surprise == "epistemic" else None
        pred = StepPrediction(comp.reshape(e, self.draws, b, -1), fe[:, None].expand(e, self.draws, b),
                              enc.next_slice, epistemic=epistemic)
        return SURPRISE_TERMS[self.surprise](pred)

    def learn(self, steps: int) -> dict[str, float]:
        return {f"world_model/{k}": v for k, v in self.world.fit(steps).items()}

    def state_dict(self) -> dict:
        return self.world.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state)


class CountBonus(NoBonus):
    """``1 / sqrt(n(cell))`` of the cell of each next observation, counted in step order."""

    def __init__(self, *, map_cells, num_cells: int, num_envs: int, device: torch.device) -> None:
        self.map_cells = map_cells
        self.num_envs = int(num_envs)
        self.counts = torch.zeros(int(num_cells), device=device)

    def score(self, r: Rollout) -> Tensor:
        if r.map_xy is None:
            raise ValueError("the count bonus needs the map_xy of each next observation (env.map_xy)")
        cells = self.map_cells(r.map_xy).to(self.counts.device).long().reshape(-1, self.num_envs)
        out = torch.empty(cells.shape, device=self.counts.device)
        for t in range(cells.shape[0]):  # a cell's count includes the visits of earlier steps
            self.counts += torch.bincount(cells[t], minlength=self.counts.numel()).float()
            out[t] = self.counts[cells[t]].rsqrt()
        return out.reshape(-1)

    def state_dict(self) -> dict:
        return {"counts": self.counts.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].to(self.counts.device)


def _rnd_mlp(i: int, h: int, o: int) -> nn.Sequential:
    layers = [nn.Linear(i, h), nn.LeakyReLU(), nn.Linear(h, h), nn.LeakyReLU(), nn.Linear(h, o)]
    for lin in layers[::2]:  # orthogonal weights with gain sqrt(2), zero biases (the published code's init)
        nn.init.orthogonal_(lin.weight, 2 ** 0.5)
        nn.init.zeros_(lin.bias)
    return nn.Sequential(*layers)


class RNDBonus(NoBonus):
    """Random network distillation (Burda et al. 2018) on the normalised, clipped next observation.

    Args:
        obs_dim: observation width.
        hidden: width of predictor and target.
        out_dim: embedding width.
        lr: predictor learning rate.
        fraction: share of each PPO minibatch the predictor trains on (0.25 in the paper).
        device: where the networks live.
        generator: random source of the minibatch share.
    """

    def __init__(self, *, obs_dim: int, hidden: int = 64, out_dim: int = 32, lr: float = 1e-4,
                 fraction: float = 0.25, device: torch.device, generator: torch.Generator | None = None) -> None:
        self.target = _rnd_mlp(obs_dim, hidden, out_dim).to(device)
        self.predictor = _rnd_mlp(obs_dim, hidden, out_dim).to(device)
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.predictor.parameters(), lr=lr)
        self.fraction = float(fraction)
        self.generator = generator
        self.rows: Tensor | None = None  # (B, O) normalised next obs of the rollout being learned

    def error(self, z: Tensor) -> Tensor:
        """``(B, O) -> (B,)`` squared predictor error (mean over the embedding)."""
        return (self.predictor(z) - self.target(z)).pow(2).mean(-1)

    def score(self, r: Rollout) -> Tensor:
        self.rows = r.next_norm
        with torch.no_grad():
            return torch.cat([self.error(r.next_norm[i:i + CHUNK]) for i in range(0, r.next_norm.shape[0], CHUNK)])

    def minibatch(self, idx: Tensor) -> dict[str, Tensor]:
        """One predictor step on a random ``fraction`` of minibatch ``idx`` ``(M,)`` of the rollout."""
        z = self.rows[idx]
        keep = torch.rand(z.shape[0], device=z.device, generator=self.generator) < self.fraction
        loss = (self.error(z) * keep).sum() / keep.sum().clamp_min(1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"rnd_loss": loss.detach()}

    def state_dict(self) -> dict:
        return {"target": self.target.state_dict(), "predictor": self.predictor.state_dict(),
                "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.target.load_state_dict(state["target"])
        self.predictor.load_state_dict(state["predictor"])
        self.opt.load_state_dict(state["opt"])
