"""Batched model-predictive control over imagined rollouts.

For ``N`` environments the planner draws ``C`` candidate action sequences of
horizon ``H`` each, rolls all ``N * C`` of them forward through the world model
at once (one batched prediction per imagined step), sums each sequence's
discounted per-step cost, and returns the first action of the best sequence.

Candidates:

- ``Discrete`` actions: "shooting" draws sequences whose action persists from
  one step to the next with probability ``repeat_prob`` (a random walk of
  straight runs travels further than independent draws); "cem" refines
  per-step categorical distributions towards the elite sequences.
- ``Box`` actions: "shooting" draws uniformly in [-1, 1] (the codec's scale);
  "cem" (cross-entropy method) refits a diagonal Gaussian to the elites
  ``cem_iters`` times.

The previous best sequence, shifted by one step, is always one candidate
(warm start), so a good plan is kept unless a better one turns up.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from agents.encoding import ActionCodec
from agents.terms import StepPrediction

#: ``predict(obs (B, O), action_codes (B, A)) -> StepPrediction``
PredictFn = Callable[[Tensor, Tensor], StepPrediction]
#: ``cost(prediction, h) -> (cost (B,), surprise (B,))``
CostFn = Callable[[StepPrediction, int], tuple[Tensor, Tensor]]


@dataclass
class Rollout:
    """Imagined rollouts of ``N`` envs x ``C`` candidates x ``H`` steps.

    obs: ``(N, C, H + 1, O)`` imagined observations (normalised; index 0 is real).
    codes: ``(N, C, H, A)`` encoded actions.
    cost: ``(N, C, H)`` per-step cost; surprise: ``(N, C, H)`` per-step surprise term.
    """

    obs: Tensor
    codes: Tensor
    cost: Tensor
    surprise: Tensor


#: ``score_bias(rollout) -> (N, C)`` added to the candidates' scores.
ScoreBias = Callable[[Rollout], Tensor]


class Planner:
    """Random-shooting / CEM planner over a batched world model.

    Args:
        codec: the action codec (``Discrete`` one-hot or ``Box`` in [-1, 1]).
        horizon: imagined steps ``H``.
        candidates: sequences ``C`` per environment.
        method: "shooting" or "cem".
        cem_iters: refits of the sampling distribution (cem).
        elite_frac: share of candidates used to refit (cem).
        repeat_prob: chance that a discrete action repeats the previous one (shooting).
        discount: weight ``discount**h`` of imagined step ``h``.
        device: where candidates are drawn.
        generator: random source for candidates.
    """

    def __init__(self, *, codec: ActionCodec, horizon: int = 6, candidates: int = 64, method: str = "shooting",
                 cem_iters: int = 3, elite_frac: float = 0.1, repeat_prob: float = 0.5, discount: float = 1.0,
                 device: torch.device | str = "cpu", generator: torch.Generator | None = None) -> None:
        if method not in ("shooting", "cem"):
            raise ValueError(f"planner method {method!r} is invalid: expected 'shooting' or 'cem'")
        if horizon < 1 or candidates < 1:
            raise ValueError(f"horizon and candidates must be >= 1, got {horizon}, {candidates}")
        self.codec = codec
        self.horizon = int(horizon)
        self.candidates = int(candidates)
        self.method = method
        self.cem_iters = int(cem_iters) if method == "cem" else 1
        self.elite_frac = float(elite_frac)
        self.repeat_prob = float(repeat_prob)
        self.discount = float(discount)
        self.device = torch.device(device)
        self.generator = generator
        self._prev: Tensor | None = None  # (N, H, A) best codes of the last call
        self.last_rollout: Rollout | None = None

    def reset(self, mask: Tensor | None = None) -> None:
        """Forget warm starts (all, or rows where ``mask`` (N,) is True)."""
        if mask is None or self._prev is None:
            self._prev = None
        else:
            self._prev[mask.to(self._prev.device)] = self._initial_codes(int(mask.sum()))

    # ------------------------------------------------------------- candidates
    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, device=self.device, generator=self.generator)

    def _initial_codes(self, n: int) -> Tensor:
        return self._shooting(n, 1)[:, 0]

    def _shooting(self, n: int, c: int) -> Tensor:
        """``(n, c, H, A)`` candidate codes from the shooting distribution."""
        h = self.horizon
        if self.codec.discrete:
            k = self.codec.n
            fresh = (self._rand(n, c, h) * k).long().clamp_max(k - 1)
            keep = self._rand(n, c, h) < self.repeat_prob
            idx = fresh.clone()
            for t in range(1, h):  # H is small; the loop is over imagined steps, not envs
                idx[:, :, t] = torch.where(keep[:, :, t], idx[:, :, t - 1], fresh[:, :, t])
            return torch.nn.functional.one_hot(idx, k).float()
        return self._rand(n, c, h, self.codec.dim) * 2 - 1

    def _sample(self, n: int, c: int, dist: tuple[Tensor, Tensor] | None) -> Tensor:
        if dist is None:
            return self._shooting(n, c)
        if self.codec.discrete:
            probs = dist[0]  # (n, H, K)
            flat = probs.reshape(-1, probs.shape[-1])
            idx = torch.multinomial(flat, c, replacement=True, generator=self.generator)  # (n*H, c)
            idx = idx.reshape(n, self.horizon, c).permute(0, 2, 1)
            return torch.nn.functional.one_hot(idx, self.codec.n).float()
        mean, std = dist
        eps = torch.randn((n, c, self.horizon, self.codec.dim), device=self.device, generator=self.generator)
        return (mean[:, None] + std[:, None] * eps).clamp(-1, 1)

    def _refit(self, codes: Tensor, scores: Tensor, dist: tuple[Tensor, Tensor] | None
               ) -> tuple[Tensor, Tensor]:
        n, c = scores.shape
        k = max(1, int(round(self.elite_frac * c)))
        elite_idx = scores.topk(k, dim=1, largest=False).indices  # lower cost is better
        gather = elite_idx[:, :, None, None].expand(-1, -1, self.horizon, codes.shape[-1])
        elites = codes.gather(1, gather)  # (n, k, H, A)
        if self.codec.discrete:
            probs = elites.mean(1) * 0.9 + 0.1 / self.codec.n  # smoothed: never rule an action out
            return probs, probs
        return elites.mean(1), elites.std(1, unbiased=False).clamp_min(0.05)

    # ---------------------------------------------------------------- rollout
    def evaluate(self, obs: Tensor, codes: Tensor, predict: PredictFn, cost_fn: CostFn) -> Rollout:
        """Roll ``codes`` ``(N, C, H, A)`` forward from ``obs`` ``(N, O)`` as one batch per step."""
        n, c, h, a = codes.shape
        cur = obs[:, None, :].expand(n, c, obs.shape[-1]).reshape(n * c, -1)
        traj, costs, surprises = [cur], [], []
        for t in range(h):
            pred = predict(cur, codes[:, :, t].reshape(n * c, a))
            cost, surprise = cost_fn(pred, t)
            costs.append(cost * self.discount ** t)
            surprises.append(surprise)
            cur = pred.mean_next_obs
            traj.append(cur)
        return Rollout(obs=torch.stack(traj, 1).reshape(n, c, h + 1, -1), codes=codes,
                       cost=torch.stack(costs, 1).reshape(n, c, h),
                       surprise=torch.stack(surprises, 1).reshape(n, c, h))

    @torch.no_grad()
    def plan(self, obs: Tensor, predict: PredictFn, cost_fn: CostFn,
             score_bias: ScoreBias | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Best first actions for ``obs`` ``(N, O)`` (normalised).

        Scores are the summed per-step costs (plus ``score_bias(rollout)``);
        the lowest wins (an agent that maximises a term puts it in the cost
        with a negative sign, see :class:`agents.objective.Objective`). Returns
        env-format actions and ``{"score": (N,), "surprise": (N,)}`` of the
        chosen sequences.
        """
        n = obs.shape[0]
        if self._prev is None or self._prev.shape[0] != n:
            self._prev = self._initial_codes(n)
        warm = torch.cat([self._prev[:, 1:], self._initial_codes(n)[:, -1:]], dim=1)  # shifted plan
        dist = None
        best_codes = best_scores = None
        for _ in range(self.cem_iters):
            codes = self._sample(n, self.candidates, dist)
            codes[:, 0] = warm if best_codes is None else best_codes
            rollout = self.evaluate(obs, codes, predict, cost_fn)
            score = rollout.cost.sum(-1)
            if score_bias is not None:
                score = score + score_bias(rollout)
            best = score.argmin(dim=1)
            rows = torch.arange(n, device=obs.device)
            best_codes, best_scores = codes[rows, best], score[rows, best]
            best_surprise = rollout.surprise[rows, best].mean(-1)
            if self.method == "cem":
                dist = self._refit(codes, score, dist)
        self._prev = best_codes
        self.last_rollout = rollout
        return self.codec.decode(best_codes[:, 0]), {"score": best_scores, "surprise": best_surprise}
