"""The PPO learner's settings (the ``agent.ppo`` config section), without torch."""
from __future__ import annotations

from dataclasses import dataclass

from freeenergy.settings import Settings, above, at_least, between, setting


@dataclass(frozen=True)
class PPOSettings(Settings):
    """PPO hyper-parameters of the amortised agent (Schulman et al. 2017; two value heads as in RND)."""

    rollout: int = setting(128, "Env steps T per copy in one rollout (one update per rollout).", at_least(1, True))
    epochs: int = setting(4, "Passes over the rollout per update.", at_least(1, True))
    minibatches: int = setting(4, "Minibatches per pass (each T * N / minibatches rows).", at_least(1, True))
    lr: float = setting(1e-3, "Adam learning rate of the actor-critic.", between(0, 1, "()"))
    hidden: int = setting(64, "Width of the two hidden layers of actor and critic.", at_least(1, True))
    gamma: float = setting(0.99, "Discount of extrinsic (episodic) returns.", between(0, 1, "()"))
    gamma_int: float = setting(0.99, "Discount of intrinsic (non-episodic) returns.", between(0, 1, "()"))
    gae_lambda: float = setting(0.95, "Lambda of generalised advantage estimation.", between(0, 1, "(]"))
    clip: float = setting(0.2, "Clip range of the probability ratio.", above(0))
    ent_coef: float = setting(0.01, "Weight of the policy's entropy bonus.", at_least(0))
    vf_coef: float = setting(0.5, "Weight of the value losses.", above(0))
    max_grad_norm: float = setting(0.5, "Gradient-norm clip.", above(0))
    fourier: int = setting(0, "Random Fourier features of the policy input added to it (0: the raw input only).",
                           at_least(0, True))
    fourier_scale: float = setting(5.0, "Std of the Fourier features' frequencies, per normalised input unit.",
                                   above(0))
    compile: bool = setting(False, "torch.compile the policy forward, advantage estimation and the minibatch "
                            "loss (CUDA graphs on a GPU): for GPUs, after a compilation of a minute or so; on a CPU "
                            "it does not pay. Results equal the eager ones to float rounding.")
