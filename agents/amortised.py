"""The amortised agent: PPO on batched twins, rewarded by a normalised surprise bonus.

Where the planning agent (:mod:`agents.base`) searches imagined rollouts at
every step, this agent *amortises* the search into a policy: it acts with one
forward pass for all ``N`` copies, and learns from rollouts of ``T`` steps x
``N`` copies as one batch (:mod:`agents.ppo`). The bonus comes from a rollout
source (:mod:`agents.intrinsic`): with the online world model, the policy
maximises (``Objective.MAXIMISE``, adversarial free energy) or minimises (free
energy) a surprise term that the world model keeps minimising by fitting on
replay; RND, exact counts or no bonus make the baselines in the same learner.

Observations are normalised by running mean/std, initialised from
``warmup_steps`` random steps and clipped to [-5, 5] (as in RND); the
intrinsic reward ``sign * surprise`` is divided by the running std of the
discounted non-episodic intrinsic return (:class:`ReturnNormaliser`).

Rare-state biasing (:mod:`agents.rare_state`) reaches this agent through
``set_reward_bias`` (a penalty of each transition's free energy, taken off the
intrinsic reward), ``weight_last_transitions`` (importance weights of the
rollout's replay rows) and ``restarted`` (copies put in new states);
``context`` ``(N, C)``: fixed per-copy features the policy sees next to the
observation (e.g. the one-hot of a copy's window).

It keeps the :class:`agents.protocol.Agent` contract. ``observe(step)``
returns the free energy of the rollout's transitions ``(T * N,)`` on the step
that completes a rollout (world-model sources only), and None otherwise.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.encoding import RunningNorm
from agents.intrinsic.base import IntrinsicSource, ReturnNormaliser, Transitions
from agents.objective import Objective
from agents.ppo import PPOLearner, RolloutBuffer
from agents.protocol import Agent, Metrics, Step
from agents.rare_state import RewardBias

CLIP = 5.0  # normalised observations are clipped to [-5, 5] (Burda et al. 2018)


class AmortisedAgent(Agent):
    """PPO with two value heads on a rollout source's normalised bonus.

    Args:
        learner: the PPO learner (its settings give the rollout length T).
        source: the intrinsic source that scores each rollout (:mod:`agents.intrinsic`).
        obs_dim: observation width.
        num_actions: Discrete action count.
        num_envs: copies N.
        action_start: the first action's index (``Discrete.start``).
        objective: ``MAXIMISE``: the bonus is +surprise (adversarial); ``MINIMISE``: -surprise.
        warmup_steps: random steps per copy that initialise the observation statistics.
        fit_ratio: world-model steps per env step (run at the end of each rollout; each step's batch
            grows with the copies, see ``OnlineWorldModel.samples_per_transition``).
        context: ``(N, C)`` features appended to each copy's policy input (the learner's
            ``obs_dim`` is then ``obs_dim + C``); None: none.
        device: where everything lives.
        generator: random source of warm-up actions.
    """

    def __init__(self, *, learner: PPOLearner, source: IntrinsicSource, obs_dim: int, num_actions: int, num_envs: int,
                 objective: Objective = Objective.MAXIMISE, warmup_steps: int = 10, fit_ratio: int = 1,
                 action_start: int = 0, context: Tensor | None = None, device: torch.device,
                 generator: torch.Generator | None = None) -> None:
        self.learner = learner
        self.source = source
        self.world = source.world  # None unless the source is a world model's surprise
        self.num_actions, self.num_envs = int(num_actions), int(num_envs)
        self.action_start = int(action_start)
        self.sign = objective.reward_sign
        self.warmup_steps, self.fit_ratio = int(warmup_steps), int(fit_ratio)
        self.device = torch.device(device)
        self.generator = generator
        t, n = learner.s.rollout, self.num_envs
        self.context = None if context is None else torch.as_tensor(context, device=self.device).float()
        width = obs_dim + (0 if self.context is None else self.context.shape[1])
        self.buf = RolloutBuffer(steps=t, num_envs=n, obs_dim=width, device=self.device)
        self.raw_obs = torch.zeros(t, n, obs_dim, device=self.device)
        self.raw_next = torch.zeros(t, n, obs_dim, device=self.device)
        self.map_xy = torch.zeros(t, n, 2, device=self.device)
        self.has_map = False
        self.reward_bias: RewardBias | None = None
        self._fe: Tensor | None = None  # (T, N) free energy of the finished rollout
        self.obs_norm = RunningNorm(obs_dim, self.device, std_floor=1e-2)
        self.returns = ReturnNormaliser(num_envs=n, gamma=learner.s.gamma_int, device=self.device)
        self.steps = 0
        self._surprise: Tensor | None = None  # (T, N) raw surprise of the finished rollout
        self._next_obs: Tensor | None = None
        self.last_metrics: Metrics = {}

    def normalise(self, obs: Tensor) -> Tensor:
        """``(..., O)`` observations whitened by the running statistics and clipped to [-5, 5]."""
        return self.obs_norm.normalise(obs).clamp(-CLIP, CLIP)

    def policy_input(self, obs: Tensor) -> Tensor:
        """``(N, O [+ C])``: normalised observations of all copies, with their ``context``."""
        z = self.normalise(obs)
        return z if self.context is None else torch.cat([z, self.context], -1)

    @property
    def warming_up(self) -> bool:
        return self.steps < self.warmup_steps

    @torch.no_grad()
    def act(self, obs: Tensor) -> Tensor:
        """Actions ``(N,)`` long for ``obs`` ``(N, O)``: one forward pass for all copies."""
        obs = torch.as_tensor(obs, device=self.device, dtype=torch.float32).reshape(self.num_envs, -1)
        if self.warming_up:
            idx = torch.randint(self.num_actions, (self.num_envs,), device=self.device, generator=self.generator)
            return idx + self.action_start
        z = self.policy_input(obs)
        actions, logp, values = self.learner.act(z)
        self.buf.add(z, actions, logp, values)
        return actions + self.action_start

    @torch.no_grad()
    def observe(self, step: Step) -> Tensor | None:
        """Record one step of all copies; on a rollout's last step, score it (see module doc)."""
        self.steps += 1
        n = self.num_envs
        obs = torch.as_tensor(step.obs, device=self.device, dtype=torch.float32).reshape(n, -1)
        nxt = torch.as_tensor(step.next_obs, device=self.device, dtype=torch.float32).reshape(n, -1)
        xy = None if step.map_xy is None else torch.as_tensor(step.map_xy, device=self.device).float()
        if self.steps <= self.warmup_steps:
            self.obs_norm.update(nxt)
            self.source.warm(Transitions(obs, torch.as_tensor(step.action, device=self.device), nxt, xy, n))
            return None
        t = self.buf.t
        self.raw_obs[t], self.raw_next[t] = obs, nxt
        if xy is not None:
            self.map_xy[t], self.has_map = xy, True
        self.buf.outcome(torch.as_tensor(step.reward), step.done)
        if not self.buf.full:
            return None
        self._next_obs = nxt
        rows = self.buf.steps * n
        batch = Transitions(self.raw_obs.reshape(rows, -1), self.buf.actions.reshape(rows) + self.action_start,
                            self.raw_next.reshape(rows, -1), self.map_xy.reshape(rows, 2) if self.has_map else None,
                            n, self.buf.dones.reshape(rows))
        self._surprise = self.source.score(batch).reshape(self.buf.steps, n)
        fe = self.source.free_energy
        self._fe = None if fe is None else fe.reshape(self.buf.steps, n)
        return fe

    # ------------------------------------------------------------ rare-state biasing
    def set_reward_bias(self, bias: RewardBias | None) -> None:
        """Take ``bias(F)`` ``(T, N)`` of each rollout's free energies off its intrinsic reward (None: no bias)."""
        self.reward_bias = bias

    def weight_last_transitions(self, weights: Tensor) -> None:
        """Importance weights ``(T * N,)`` (step-major) of the replay rows of the rollout ``observe`` scored last."""
        slots = None if self.world is None else self.world.last_slots
        if slots is None or weights.numel() < slots.numel():
            raise ValueError(f"got {weights.numel()} importance weights for the transitions of a rollout "
                             f"(a world-model source is needed)")
        # A replay smaller than a rollout keeps only its newest rows: their weights are the last ones.
        self.world.replay.set_weights(slots, weights.reshape(-1)[-slots.numel():].to(self.device))

    def restarted(self, mask: Tensor) -> None:
        """Copies ``mask`` ``(N,)`` were put in new states after the step just recorded.

        For the extrinsic return a restart ends the episode (no bootstrap from a state the
        copy did not reach). The intrinsic return runs on, as across an env's reset: it is
        non-episodic, and a restart is a reset to a rarer start.
        """
        if self.buf.t > 0:  # 0: a warm-up step, not in the rollout
            self.buf.dones[self.buf.t - 1] |= mask.to(self.device).bool()
        if hasattr(self.source, "restarted"):  # an episodic memory starts again
            self.source.restarted(mask)

    def update(self) -> Metrics:
        """At a rollout's end: normalise the bonus, one PPO update, world-model fits; metrics (0-d tensors)."""
        if self._surprise is None:
            return self.last_metrics
        s, self._surprise = self._surprise, None
        reward = self.sign * s
        penalty = torch.zeros_like(s)
        if self.reward_bias is not None and self._fe is not None:
            # Before the normalisation: the penalty is in the raw free energy's units, as the
            # planner's score bias is (umbrella.weight means the same for both agents), and the
            # normaliser then keeps the intrinsic reward's scale, so that no weight upsets the
            # balance ext_coef : int_coef with the env's own reward.
            penalty = self.reward_bias(self._fe)
            reward = reward - penalty
        bonus = self.returns(reward)
        hook = self.source.minibatch if self.source.trains_in_minibatches else None
        last_obs = self._next_obs
        # the observation after the rollout: the env's next obs (its autoreset start where an episode ended)
        metrics: Metrics = {f"ppo/{k}": v for k, v in self.learner.update(self.buf, bonus,
                                                                           self.policy_input(last_obs), hook).items()}
        self.obs_norm.update(self.raw_next.reshape(-1, self.raw_next.shape[-1]))
        metrics.update(self.source.learn(self.fit_ratio * self.buf.steps))
        metrics.update({"bonus/surprise": s.mean(), "bonus/normalised": bonus.abs().mean(),
                        "bonus/return_std": self.returns.std})
        if self.reward_bias is not None:
            metrics["bonus/window_penalty"] = penalty.mean()
        self.buf.t = 0
        self.last_metrics = metrics
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"learner": self.learner.state_dict(), "source": self.source.state_dict(), "steps": self.steps,
                "obs_norm": self.obs_norm.state_dict(), "returns": self.returns.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore; a rollout cut by the checkpoint is dropped (the next one starts afresh)."""
        self.learner.load_state_dict(state["learner"])
        self.source.load_state_dict(state["source"])
        self.steps = int(state["steps"])
        self.obs_norm.load_state_dict(state["obs_norm"])
        self.returns.load_state_dict(state["returns"])
        self.buf.t, self._surprise = 0, None
