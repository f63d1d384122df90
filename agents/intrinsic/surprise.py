"""The world model's surprise as an intrinsic source (``afe`` maximises it, ``fe`` minimises it).

Each scored transition is first stored in the online world model's replay,
then scored by one term of :mod:`agents.terms` (``total``: its free energy,
mean over members; ``epistemic``: the world models' own estimate where they
have one (``rae_gmm``'s code novelty), else the members' or noise draws'
disagreement about ``obs_t+1`` given ``(obs_t, action_t)``; ``aleatoric``: total -
epistemic; ``predicted``: the surprise head's estimate). ``learn`` fits the
model on replay: the parameters keep minimising the surprise that the actions
may seek (adversarial free energy).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.intrinsic import TERMS, SurpriseOptions
from agents.intrinsic.base import IntrinsicSource, Transitions, chunks
from agents.online import OnlineWorldModel
from agents.protocol import Metrics
from agents.terms import SURPRISE_TERMS, StepPrediction, model_epistemic


class WorldModelSurprise(IntrinsicSource):
    """A surprise term of real transitions under an online world model, which then learns them.

    Args:
        world: encoder + replay + member(s).
        options: the term and how it is measured (:class:`SurpriseOptions`).
    """

    def __init__(self, *, world: OnlineWorldModel, options: SurpriseOptions | None = None) -> None:
        o = options or SurpriseOptions()
        if o.term not in TERMS:
            raise ValueError(f"surprise term {o.term!r} is invalid: expected one of {', '.join(TERMS)}")
        own = o.term == "epistemic" and all(hasattr(m, "epistemic") for m in world.members)
        if o.term in ("epistemic", "aleatoric") and len(world.members) < 2 and o.draws < 2 and not own:
            raise ValueError(f"surprise term {o.term!r} needs an ensemble of >= 2 world models or draws >= 2")
        if o.term == "predicted" and world.surprise_head is None:
            raise ValueError("surprise term 'predicted' needs a world model with a surprise head")
        self.world, self.options = world, o
        self.free_energy: Tensor | None = None

    @classmethod
    def build(cls, *, world: OnlineWorldModel, options: SurpriseOptions | None = None,
              **_: Any) -> WorldModelSurprise:
        return cls(world=world, options=options)

    def warm(self, batch: Transitions) -> None:
        self.world.observe(batch.obs, batch.actions, batch.next_obs)

    @torch.no_grad()
    def score(self, batch: Transitions) -> Tensor:
        x = self.world.observe(batch.obs, batch.actions, batch.next_obs)  # stored, then scored
        parts = [self._score(block) for block in chunks(x)]
        self.free_energy = torch.cat([p[1] for p in parts])
        return torch.cat([p[0] for p in parts])

    def _score(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The term ``(B,)`` and the free energy ``(B,)`` of normalised rows ``x``."""
        o = self.options
        fe = torch.stack([m.free_energy(x, o.fe_draws) for m in self.world.members])  # (E, B)
        return self._term(x, fe), fe.mean(0)

    def _term(self, x: Tensor, fe: Tensor) -> Tensor:
        world, enc, o = self.world, self.world.encoder, self.options
        if o.term == "total":
            return fe.mean(0)
        known = x[:, : enc.next_slice.start]
        if o.term == "predicted":
            return SURPRISE_TERMS["predicted"](StepPrediction(x[None, None], fe[:, None], enc.next_slice,
                                                              world.surprise_head(known)))
        start = x[:, enc.obs_slice] if o.complete_init == "obs" else torch.zeros_like(x[:, enc.obs_slice])
        guess = torch.cat([known, start], 1).repeat(o.draws, 1)  # obs_t+1 starts at obs_t or the mean
        comp = world.complete(guess, enc.predict_mask)  # (E, M * B, D)
        e, b = comp.shape[0], x.shape[0]
        epistemic = model_epistemic(world.members, comp, o.draws) if o.term == "epistemic" else None
        pred = StepPrediction(comp.reshape(e, o.draws, b, -1), fe[:, None].expand(e, o.draws, b), enc.next_slice,
                              epistemic=epistemic)
        return SURPRISE_TERMS[o.term](pred)

    def learn(self, steps: int) -> Metrics:
        return {f"world_model/{k}": v for k, v in self.world.fit(steps).items()}

    def state_dict(self) -> dict:
        return self.world.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state)
