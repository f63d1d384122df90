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

#: The seed of the code noise when a free energy is measured before and after learning.
GAIN_NOISE_SEED = 12345


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
        self._learned = 0  # fit steps a gain score made on the batch scored last

    @classmethod
    def build(cls, *, world: OnlineWorldModel, options: SurpriseOptions | None = None,
              **_: Any) -> WorldModelSurprise:
        return cls(world=world, options=options)

    def warm(self, batch: Transitions) -> None:
        self.world.observe(batch.obs, batch.actions, batch.next_obs)

    @torch.no_grad()
    def score(self, batch: Transitions) -> Tensor:
        if self.options.term == "gain":
            return self._gain_score(batch)
        x = self.world.observe(batch.obs, batch.actions, batch.next_obs)  # stored, then scored
        parts = [self._score(block) for block in chunks(x)]
        self.free_energy = torch.cat([p[1] for p in parts])
        return torch.cat([p[0] for p in parts])

    @torch.no_grad()
    def peek(self, batch: Transitions) -> Tensor:
        x = self.world.encoder.encode(batch.obs, batch.actions, batch.next_obs)
        if self.options.term == "gain":
            return self._gain_peek(batch, x)
        return torch.cat([self._score(block)[0] for block in chunks(x)])

    # ------------------------------------------------------------ prediction gain
    def _fe(self, x: Tensor) -> Tensor:
        """Free energy ``(B,)`` with the code noise drawn from one fixed stream (common random numbers), so
        that the same rows before and after learning differ by what was learned, not by the draws."""
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(GAIN_NOISE_SEED)
            return torch.cat([torch.stack([m.free_energy(b, self.options.fe_draws) for m in self.world.members])
                              .mean(0) for b in chunks(x)])

    def _gain_score(self, batch: Transitions) -> Tensor:
        """Score by learning (Bellemare et al. 2016): the drop of each transition's free energy over one fit.

        The fit is the one ``learn`` would make next (one step per env step of the batch); ``learn``
        then makes only the steps beyond it.
        """
        x = self.world.observe(batch.obs, batch.actions, batch.next_obs)
        before = self._fe(x)
        with torch.enable_grad():
            self.world.fit(batch.steps())
        self._learned = batch.steps()
        after = self._fe(self.world.encoder.normalise_raw(self.world.encoder.raw(batch.obs, batch.actions,
                                                                               batch.next_obs)))
        self.free_energy = before
        return (before - after).clamp_min(0).sqrt()

    def _gain_peek(self, batch: Transitions, x: Tensor) -> Tensor:
        """The gain of one fit on ``batch`` (with the replay) by copies of the models: the source is unchanged."""
        import copy

        members = self.world.members
        saved = [copy.deepcopy(m.state_dict()) for m in members]
        opt_state = [copy.deepcopy(m.optimiser_state_dict()) for m in members]
        before = self._fe(x)
        with torch.enable_grad():
            for _ in range(max(batch.steps(), 1)):
                for m in members:
                    m.train_step(x)
        after = self._fe(x)
        for m, state, opt in zip(members, saved, opt_state):
            m.load_state_dict(state)
            m.load_optimiser_state_dict(opt)
        return (before - after).clamp_min(0).sqrt()

    def _score(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The term ``(B,)`` and the free energy ``(B,)`` of normalised rows ``x``."""
        o = self.options
        fe = torch.stack([m.free_energy(x, o.fe_draws) for m in self.world.members])  # (E, B)
        if o.term == "total" and not o.code_penalty:
            return torch.stack([_reconstruction(m, x, o.fe_draws) for m in self.world.members]).mean(0), fe.mean(0)
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
        steps, self._learned = max(int(steps) - self._learned, 0), 0  # a gain score has made its fit already
        return {f"world_model/{k}": v for k, v in self.world.fit(steps).items()}

    def state_dict(self) -> dict:
        return self.world.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.world.load_state_dict(state)


def _reconstruction(model: Any, x: Tensor, draws: int) -> Tensor:
    """The reconstruction part of ``model``'s free energy ``(B,)`` (its whole free energy if it has no such term).

    The code penalty rewards small codes, not knowing a transition: kept in a bonus, it
    adds a term that does not fall with the visits.
    """
    per, terms = model.per_sample_loss(x.repeat(draws, 1))
    part = terms.get("reconstruction", per)
    return part.view(draws, x.shape[0]).mean(0)
