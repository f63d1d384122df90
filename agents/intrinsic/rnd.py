"""Random network distillation as published (Burda et al. 2018), as an intrinsic source.

- Observations are whitened by the source's own running mean/std (started by
  the warm-up steps, kept up to date with every scored batch) and clipped to
  [-5, 5].
- The bonus of a transition is the error of a trained *predictor* against a
  fixed random *target* on its next observation; the predictor is deeper than
  the target, as in the published networks.
- The predictor trains on a random ``fraction`` of each policy minibatch
  (``minibatch``), so that its error does not vanish at once; a caller without
  minibatches (the stable-baselines3 wrapper) has ``learn`` train it on the
  same share of each scored batch instead.
- The division by the running std of the discounted intrinsic return is the
  learner's (:class:`agents.intrinsic.base.ReturnNormaliser`).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from agents.encoding import RunningNorm
from agents.intrinsic import RNDOptions
from agents.intrinsic.base import IntrinsicSource, Transitions, chunks
from agents.protocol import Metrics

CLIP = 5.0


def _mlp(i: int, h: int, o: int, depth: int) -> nn.Sequential:
    widths = [i] + [h] * depth
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU()]
    layers.append(nn.Linear(widths[-1], o))
    for lin in layers[::2]:  # orthogonal weights with gain sqrt(2), zero biases (the published init)
        assert isinstance(lin, nn.Linear)
        nn.init.orthogonal_(lin.weight, 2 ** 0.5)
        nn.init.zeros_(lin.bias)
    return nn.Sequential(*layers)


class RND(IntrinsicSource):
    """Predictor vs fixed random target on the whitened, clipped next observation.

    Args:
        obs_dim: observation width.
        options: network sizes, learning rate, trained share (:class:`RNDOptions`).
        device: where the networks live.
        generator: random source of the trained share.
    """

    trains_in_minibatches = True

    def __init__(self, *, obs_dim: int, options: RNDOptions | None = None, device: torch.device,
                 generator: torch.Generator | None = None) -> None:
        o = options or RNDOptions()
        self.options = o
        self.target = _mlp(obs_dim, o.hidden, o.out_dim, o.target_depth).to(device)
        self.predictor = _mlp(obs_dim, o.hidden, o.out_dim, o.predictor_depth).to(device)
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.predictor.parameters(), lr=o.lr)
        self.norm = RunningNorm(obs_dim, device, std_floor=1e-2)
        self.generator = generator
        self.rows: Tensor | None = None  # (B, O) whitened next obs of the batch scored last
        self._raw: Tensor | None = None
        self._trained = 0  # predictor steps on the batch scored last

    @classmethod
    def build(cls, *, env: Any, options: RNDOptions | None = None, device: torch.device,
              generator: torch.Generator | None = None, **_: Any) -> RND:
        return cls(obs_dim=env.obs_dim, options=options, device=device, generator=generator)

    def predictor_depth_layers(self) -> int:
        """Linear layers of the predictor."""
        return sum(isinstance(m, nn.Linear) for m in self.predictor)

    def target_depth_layers(self) -> int:
        """Linear layers of the target."""
        return sum(isinstance(m, nn.Linear) for m in self.target)

    def error(self, z: Tensor) -> Tensor:
        """``(B, O) -> (B,)`` squared predictor error (mean over the embedding)."""
        return (self.predictor(z) - self.target(z)).pow(2).mean(-1)

    def warm(self, batch: Transitions) -> None:
        self.norm.update(batch.next_obs)

    def score(self, batch: Transitions) -> Tensor:
        self._raw = batch.next_obs
        self.rows = self.norm.normalise(batch.next_obs).clamp(-CLIP, CLIP)
        self._trained = 0
        with torch.no_grad():
            return torch.cat([self.error(block) for block in chunks(self.rows)])

    @torch.no_grad()
    def peek(self, batch: Transitions) -> Tensor:
        rows = self.norm.normalise(batch.next_obs).clamp(-CLIP, CLIP)
        return torch.cat([self.error(block) for block in chunks(rows)])

    def _step(self, z: Tensor) -> Tensor:
        keep = torch.rand(z.shape[0], device=z.device, generator=self.generator) < self.options.fraction
        loss = (self.error(z) * keep).sum() / keep.sum().clamp_min(1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self._trained += 1
        return loss.detach()

    def minibatch(self, idx: Tensor) -> dict[str, Tensor]:
        """One predictor step on a random ``fraction`` of rows ``idx`` ``(M,)`` of the batch scored last."""
        assert self.rows is not None, "score a batch before training on its minibatches"
        return {"rnd_loss": self._step(self.rows[idx])}

    def learn(self, steps: int) -> Metrics:
        """Without minibatch steps since the last score: ``steps`` steps on the scored batch. Then the
        observation statistics take in the batch."""
        out: Metrics = {}
        if self.rows is not None and self._trained == 0 and steps > 0:
            for _ in range(int(steps)):
                loss = self._step(self.rows)
            out["rnd/loss"] = loss
        if self._raw is not None:
            self.norm.update(self._raw)
            self._raw = None
        return out

    def state_dict(self) -> dict:
        return {"target": self.target.state_dict(), "predictor": self.predictor.state_dict(),
                "opt": self.opt.state_dict(), "norm": self.norm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.target.load_state_dict(state["target"])
        self.predictor.load_state_dict(state["predictor"])
        self.opt.load_state_dict(state["opt"])
        self.norm.load_state_dict(state["norm"])
