"""Proximal policy optimisation on batched tensor rollouts, with two value heads.

A small torch-native PPO learner (Schulman et al. 2017) written for the
project's batched twins: ``N`` copies act with one forward pass, ``T`` steps x
``N`` copies form one batch, and everything stays a tensor on one device (no
numpy round trips, no per-copy Python loops; the only Python loop runs over the
``T`` steps of generalised advantage estimation), and nothing is read back to the
host: the metrics of an update are 0-d tensors until the run logs them.

``agent.ppo.compile`` compiles the policy forward, advantage estimation and the
minibatch loss with ``torch.compile`` (``mode="reduce-overhead"`` on a GPU: each is
replayed as one CUDA graph); it is meant for GPUs, where the eager step is many small
kernel launches. On a CPU it does not pay: inductor's kernels for these small
networks ran slower than eager ones (``benchmarks/results/throughput.json`` has
both). The random draws stay outside the compiled functions, so both paths draw
the same numbers and agree to float rounding (``tests/test_amortised.py``).

Two value heads, as random network distillation (Burda et al. 2018) needs: an
*extrinsic* head on episodic returns (an episode end cuts the bootstrap) and an
*intrinsic* head on non-episodic returns (a reset does not end them). The
policy follows ``ext_coef * A_ext + int_coef * A_int`` (2 and 1 in the paper).

Why not stable-baselines3 or TorchRL: SB3's ``VecEnv`` is a numpy interface
(every step crosses to numpy and back, and its rollout buffer is numpy), so it
cannot step thousands of tensor copies on one device; ``benchmarks/throughput.py``
measures the difference side by side.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from agents.ppo_settings import PPOSettings

__all__ = ["ActorCritic", "FourierFeatures", "PPOLearner", "PPOSettings", "RolloutBuffer", "gae"]


def _layer(i: int, o: int, std: float) -> nn.Linear:
    lin = nn.Linear(i, o)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.zeros_(lin.bias)
    return lin


def _mlp(i: int, h: int, o: int, out_std: float) -> nn.Sequential:
    return nn.Sequential(_layer(i, h, 2 ** 0.5), nn.Tanh(), _layer(h, h, 2 ** 0.5), nn.Tanh(), _layer(h, o, out_std))


class FourierFeatures(nn.Module):
    """``(B, O) -> (B, O + 2F)``: the input and ``sin``/``cos`` of ``F`` fixed random projections of it.

    A small MLP on a low-dimensional input (a maze position) can only draw
    smooth functions of it; random Fourier features (Rahimi and Recht 2007,
    Tancik et al. 2020) let it draw the sharp ones a maze's walls demand.
    """

    def __init__(self, *, in_dim: int, features: int, scale: float) -> None:
        super().__init__()
        self.register_buffer("proj", torch.randn(in_dim, features) * scale)
        self.out_dim = in_dim + 2 * features

    def forward(self, x: Tensor) -> Tensor:
        if self.proj.shape[1] == 0:
            return x
        h = x @ self.proj
        return torch.cat([x, h.sin(), h.cos()], -1)


class ActorCritic(nn.Module):
    """Categorical policy and a critic with two heads (extrinsic, intrinsic).

    ``forward(obs (B, O)) -> logits (B, A), values (B, 2)``.
    """

    def __init__(self, *, obs_dim: int, num_actions: int, hidden: int, fourier: int = 0,
                 fourier_scale: float = 5.0) -> None:
        super().__init__()
        self.features = FourierFeatures(in_dim=obs_dim, features=fourier, scale=fourier_scale)
        self.actor = _mlp(self.features.out_dim, hidden, num_actions, 0.01)
        self.critic = _mlp(self.features.out_dim, hidden, 2, 1.0)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        f = self.features(obs)
        return self.actor(f), self.critic(f)

    def value(self, obs: Tensor) -> Tensor:
        return self.critic(self.features(obs))


def gae(rewards: Tensor, values: Tensor, next_value: Tensor, dones: Tensor | None, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation: ``(T, N)`` advantages and returns.

    ``dones[t]`` marks an episode that ended with step ``t``: the bootstrap from
    step ``t + 1`` is cut. ``dones=None``: non-episodic (nothing is cut).
    ``next_value`` ``(N,)`` is the value of the observation after the last step.
    """
    steps = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(steps)):
        nv = next_value if t == steps - 1 else values[t + 1]
        keep = 1.0 if dones is None else (~dones[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * nv * keep - values[t]
        last = delta + gamma * lam * keep * last
        adv[t] = last
    return adv, adv + values


class RolloutBuffer:
    """``T`` steps x ``N`` copies of what PPO needs, preallocated on ``device``."""

    def __init__(self, *, steps: int, num_envs: int, obs_dim: int, device: torch.device) -> None:
        t, n = int(steps), int(num_envs)
        self.steps, self.num_envs = t, n
        self.obs = torch.zeros(t, n, obs_dim, device=device)  # policy inputs (normalised)
        self.actions = torch.zeros(t, n, dtype=torch.long, device=device)
        self.logp = torch.zeros(t, n, device=device)
        self.values = torch.zeros(t, n, 2, device=device)
        self.rewards = torch.zeros(t, n, device=device)  # extrinsic
        self.dones = torch.zeros(t, n, dtype=torch.bool, device=device)
        self.t = 0  # steps written

    @property
    def full(self) -> bool:
        return self.t >= self.steps

    def add(self, obs: Tensor, actions: Tensor, logp: Tensor, values: Tensor) -> None:
        self.obs[self.t], self.actions[self.t], self.logp[self.t], self.values[self.t] = obs, actions, logp, values

    def outcome(self, reward: Tensor | None, done: Tensor | None) -> None:
        """Close step ``t`` with its extrinsic reward ``(N,)`` and episode ends ``(N,)``."""
        self.rewards[self.t] = 0.0 if reward is None else reward.to(self.rewards.device, torch.float32)
        self.dones[self.t] = False if done is None else done.to(self.dones.device).bool()
        self.t += 1


MinibatchHook = Callable[[Tensor], dict[str, Tensor]]


class PPOLearner:
    """Clipped-objective PPO over a :class:`RolloutBuffer`.

    The tensor work is three pure functions of tensors: the policy forward
    (:meth:`policy`), advantage estimation (:meth:`gae_pair`) and a minibatch's
    loss (:meth:`loss`); with ``settings.compile`` each is ``torch.compile``-d (with
    CUDA graphs on a GPU), and the rest (random draws, the optimiser) stays as it
    is, so the two paths draw the same random numbers. Nothing is read back to
    the host: ``update`` returns its metrics as 0-d tensors.

    Args:
        obs_dim: policy input width.
        num_actions: Discrete action count.
        settings: hyper-parameters.
        ext_coef: weight of extrinsic advantages.
        int_coef: weight of intrinsic advantages.
        device: where the networks live.
        generator: random source of actions and minibatch order.
    """

    def __init__(self, *, obs_dim: int, num_actions: int, settings: PPOSettings, ext_coef: float,
                 int_coef: float, device: torch.device, generator: torch.Generator | None = None) -> None:
        self.s = settings
        self.ext_coef, self.int_coef = float(ext_coef), float(int_coef)
        self.device = torch.device(device)
        self.generator = generator
        self.num_actions = int(num_actions)
        self.net = ActorCritic(obs_dim=obs_dim, num_actions=num_actions, hidden=settings.hidden,
                               fourier=settings.fourier, fourier_scale=settings.fourier_scale).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings.lr, eps=1e-5)
        self.updates = 0
        self._policy, self._gae_pair, self._loss = self.policy, self.gae_pair, self.loss
        if settings.compile:
            # CUDA graphs ("reduce-overhead") replay each compiled graph as one launch on a GPU.
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._policy, self._gae_pair, self._loss = (
                torch.compile(f, mode=mode) for f in (self.policy, self.gae_pair, self.loss))

    def _compiled_call(self, fn: Callable[..., Any], *args: Tensor) -> Any:
        """``fn(*args)``; a compiled call starts a new CUDA-graph step and hands back copies of its
        outputs (a replay overwrites the graph's own output memory)."""
        if not self.s.compile:
            return fn(*args)
        torch.compiler.cudagraph_mark_step_begin()
        out = fn(*args)
        return tuple(o.clone() for o in out) if isinstance(out, tuple) else {k: v.clone() for k, v in out.items()}

    # ------------------------------------------------------------ the pure tensor functions
    def policy(self, obs: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Actions ``(N,)`` drawn with uniforms ``u`` ``(N, A)`` (Gumbel-max), their log-probabilities
        ``(N,)`` and values ``(N, 2)`` for policy inputs ``obs`` ``(N, O)``."""
        logits, values = self.net(obs)
        logp_all = torch.log_softmax(logits, -1)
        actions = (logp_all - torch.log(-torch.log(u))).argmax(-1)  # Gumbel-max: a draw from the policy
        return actions, logp_all.gather(1, actions[:, None]).squeeze(1), values

    def gae_pair(self, rewards: Tensor, values: Tensor, dones: Tensor, int_rewards: Tensor,
                 next_value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Combined advantages ``(T, N)``, both heads' returns ``(T, N, 2)`` and the intrinsic advantages
        ``(T, N)`` of a rollout (extrinsic ``rewards``, ``values`` ``(T, N, 2)``, ``dones``, ``int_rewards``;
        ``next_value`` ``(N, 2)``)."""
        s = self.s
        a_ext, r_ext = gae(rewards, values[..., 0], next_value[:, 0], dones, s.gamma, s.gae_lambda)
        a_int, r_int = gae(int_rewards, values[..., 1], next_value[:, 1], None, s.gamma_int, s.gae_lambda)
        return self.ext_coef * a_ext + self.int_coef * a_int, torch.stack([r_ext, r_int], -1), a_int

    def loss(self, obs: Tensor, act: Tensor, logp0: Tensor, adv: Tensor, ret: Tensor
             ) -> tuple[Tensor, dict[str, Tensor]]:
        """The clipped PPO loss of one minibatch ``(M, ...)`` and its named terms (detached)."""
        logits, values = self.net(obs)
        logp_all = torch.log_softmax(logits, -1)
        logp = logp_all.gather(1, act[:, None]).squeeze(1)
        ratio = (logp - logp0).exp()
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8)
        clip = self.s.clip
        pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()
        v_loss = 0.5 * (values - ret).pow(2).mean(0)  # (2,): extrinsic, intrinsic
        entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
        loss = pg - self.s.ent_coef * entropy + self.s.vf_coef * v_loss.sum()
        with torch.no_grad():
            kl = ((ratio - 1) - (logp - logp0)).mean()
            clipped = ((ratio - 1).abs() > clip).float().mean()
        return loss, {"policy_loss": pg.detach(), "value_loss_ext": v_loss[0].detach(),
                      "value_loss_int": v_loss[1].detach(), "entropy": entropy.detach(), "approx_kl": kl,
                      "clip_fraction": clipped}

    # ------------------------------------------------------------ acting and learning
    @torch.no_grad()
    def act(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sampled actions ``(N,)`` long, their log-probabilities ``(N,)`` and values ``(N, 2)``."""
        u = torch.rand((obs.shape[0], self.num_actions), device=obs.device, generator=self.generator)
        return self._compiled_call(self._policy, obs, u.clamp_(1e-10, 1.0))

    @torch.no_grad()
    def values(self, obs: Tensor) -> Tensor:
        return self.net.value(obs)

    @torch.no_grad()
    def advantages(self, buf: RolloutBuffer, int_rewards: Tensor, next_obs: Tensor
                   ) -> tuple[Tensor, Tensor, Tensor]:
        """Combined advantages ``(T, N)``, both heads' returns ``(T, N, 2)`` and the intrinsic advantages
        ``(T, N)`` of ``buf``."""
        return self._compiled_call(self._gae_pair, buf.rewards, buf.values, buf.dones, int_rewards,
                                   self.values(next_obs))

    def update(self, buf: RolloutBuffer, int_rewards: Tensor, next_obs: Tensor,
               hook: MinibatchHook | None = None) -> dict[str, Tensor]:
        """``epochs`` x ``minibatches`` clipped steps; ``hook(rows)`` runs on every minibatch's row indices.

        Returns the mean of each term over the steps, as 0-d tensors (nothing is read back).
        """
        adv, ret, _ = self.advantages(buf, int_rewards, next_obs)
        n = buf.steps * buf.num_envs
        obs, act = buf.obs.reshape(n, -1), buf.actions.reshape(n)
        logp0, adv, ret = buf.logp.reshape(n), adv.reshape(n), ret.reshape(n, 2)
        size = max(n // self.s.minibatches, 1)
        sums: dict[str, Tensor] = {}
        for _ in range(self.s.epochs):
            order = torch.randperm(n, device=self.device, generator=self.generator)
            for start in range(0, n - size + 1, size):
                idx = order[start:start + size]
                terms = self._step(obs[idx], act[idx], logp0[idx], adv[idx], ret[idx])
                if hook is not None:
                    terms.update(hook(idx))
                for k, v in terms.items():
                    sums[k] = v.detach() if k not in sums else sums[k] + v.detach()
        self.updates += 1
        count = self.s.epochs * max(n // size, 1)
        return {k: v / count for k, v in sums.items()}

    def _step(self, obs: Tensor, act: Tensor, logp0: Tensor, adv: Tensor, ret: Tensor) -> dict[str, Tensor]:
        """One optimiser step on a minibatch; its terms."""
        if self.s.compile:
            torch.compiler.cudagraph_mark_step_begin()
        loss, terms = self._loss(obs, act, logp0, adv, ret)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.s.max_grad_norm)
        self.opt.step()
        return {k: v.clone() for k, v in terms.items()} if self.s.compile else terms

    def state_dict(self) -> dict:
        return {"net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                "opt": self.opt.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.updates = int(state["updates"])
