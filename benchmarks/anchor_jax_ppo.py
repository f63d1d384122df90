"""A compiled anchor: PPO on gymnax's CartPole-v1 with everything under ``jax.jit`` and ``lax.scan``.

What a fully compiled agent loop reaches on this machine, so that the
project's amortised agent (PPO on the batched CartPole twin, ``throughput.py``)
has a figure to be measured against. One program, compiled once:

- ``N`` copies of gymnax's ``CartPole-v1`` stepped with ``vmap`` (auto-reset inside
  the env's ``step``);
- a rollout of ``T`` steps per copy as a ``lax.scan`` (policy forward, a categorical
  draw, the env step);
- generalised advantage estimation as a reverse ``lax.scan``;
- ``epochs`` x ``minibatches`` clipped PPO steps (Adam, gradient-norm clip) as nested
  ``lax.scan`` over a fresh permutation per epoch;
- ``updates`` such rollouts-plus-updates as one outer ``lax.scan``: the host waits once.

The settings mirror the amortised agent's in ``throughput.py`` (rollout, epochs,
minibatches, two hidden tanh layers per tower); the learning rate and the PPO
coefficients are the usual ones (Schulman et al. 2017). Compilation is timed
apart from the run; ``env_steps_per_second`` is ``updates * T * N`` over the run's
wall time (best of ``--repeats``), after the result is ready on the device.

    python benchmarks/anchor_jax_ppo.py [--device cpu|cuda] [--envs 1024 8192] [--steps 2000000]
        [--rollout 32] [--epochs 4] [--minibatches 4] [--hidden 64] [--quick] [--out PATH]

Needs the optional extra ``bench`` (``pip install 'freeenergy[bench]'``: jax, flax,
optax, gymnax). Without it the script still prints its JSON, with no rows and a note.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":
    sys.path[0] = str(_ROOT)  # benchmarks/envs.py would shadow the envs package

from benchmarks.report import emit, machine  # noqa: E402

NEEDS = "jax, flax, optax and gymnax (pip install 'freeenergy[bench]')"
ENV_ID = "CartPole-v1"


@dataclass(frozen=True)
class Settings:
    """One anchor run: ``num_envs`` copies, rollouts of ``rollout`` steps, PPO's hyper-parameters."""

    num_envs: int
    rollout: int = 32
    epochs: int = 4
    minibatches: int = 4
    hidden: int = 64
    lr: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5


def missing() -> str | None:
    """Why the anchor cannot run here (a missing package), or None."""
    for name in ("jax", "flax", "optax", "gymnax"):
        try:
            __import__(name)
        except ImportError as err:
            return f"{name} is not installed ({err}); the anchor needs {NEEDS}"
    return None


def network(hidden: int, actions: int) -> Any:
    """Actor and critic, two ``tanh`` layers of ``hidden`` each, orthogonal weights (logits, value)."""
    import flax.linen as nn
    import jax.numpy as jnp

    def tower(x: Any, out: int, scale: float) -> Any:
        for _ in range(2):
            x = jnp.tanh(nn.Dense(hidden, kernel_init=nn.initializers.orthogonal(2 ** 0.5))(x))
        return nn.Dense(out, kernel_init=nn.initializers.orthogonal(scale))(x)

    class ActorCritic(nn.Module):
        @nn.compact
        def __call__(self, obs: Any) -> tuple[Any, Any]:
            return tower(obs, actions, 0.01), tower(obs, 1, 1.0)[..., 0]

    return ActorCritic()


def advantages(values: Any, rewards: Any, dones: Any, last_value: Any, s: Settings) -> tuple[Any, Any]:
    """GAE over ``(T, N)`` arrays as a reverse scan: advantages and returns ``(T, N)``."""
    import jax
    import jax.numpy as jnp

    def back(carry: tuple[Any, Any], step: tuple[Any, Any, Any]) -> tuple[tuple[Any, Any], Any]:
        gae, next_value = carry
        value, reward, done = step
        keep = 1.0 - done
        delta = reward + s.gamma * next_value * keep - value
        gae = delta + s.gamma * s.gae_lambda * keep * gae
        return (gae, value), gae

    _, adv = jax.lax.scan(back, (jnp.zeros_like(last_value), last_value), (values, rewards, dones), reverse=True)
    return adv, adv + values


def ppo_loss(net: Any, s: Settings) -> Any:
    """``loss(params, batch) -> scalar``: clipped surrogate, value error and entropy bonus."""
    import jax
    import jax.numpy as jnp

    def loss(params: Any, batch: tuple[Any, ...]) -> Any:
        obs, action, logp_old, adv, ret = batch
        logits, value = net.apply(params, obs)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, action[:, None], 1)[:, 0]
        ratio = jnp.exp(logp - logp_old)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - s.clip, 1 + s.clip) * adv).mean()
        entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
        return -surrogate + s.vf_coef * 0.5 * ((value - ret) ** 2).mean() - s.ent_coef * entropy

    return loss


def make_train(s: Settings, updates: int) -> tuple[Any, Any]:
    """``(init(key) -> carry, train(carry) -> (carry, episode lengths per update))``, the latter one program."""
    import gymnax
    import jax
    import jax.numpy as jnp
    import optax

    env, env_params = gymnax.make(ENV_ID)
    net = network(s.hidden, env.action_space(env_params).n)
    tx = optax.chain(optax.clip_by_global_norm(s.max_grad_norm), optax.adam(s.lr, eps=1e-5))
    grad = jax.grad(ppo_loss(net, s))
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    rows, size = s.rollout * s.num_envs, s.rollout * s.num_envs // s.minibatches

    def init(key: Any) -> tuple[Any, ...]:
        k_net, k_env, key = jax.random.split(key, 3)
        params = net.init(k_net, jnp.zeros(env.observation_space(env_params).shape))
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_env, s.num_envs), env_params)
        return params, tx.init(params), state, obs, key

    def act(carry: tuple[Any, ...], _: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        params, opt, state, obs, key = carry
        key, k_act, k_env = jax.random.split(key, 3)
        logits, value = net.apply(params, obs)
        action = jax.random.categorical(k_act, logits)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], 1)[:, 0]
        out = step_envs(jax.random.split(k_env, s.num_envs), state, action, env_params)
        nxt, state, reward = out[:3]
        done = jnp.logical_or(out[3], out[4]) if len(out) == 6 else out[3]  # gymnax 1.x: terminated, truncated
        return (params, opt, state, nxt, key), (obs, action, logp, value, reward, done.astype(jnp.float32))

    def minibatch(train: tuple[Any, Any], batch: tuple[Any, ...]) -> tuple[tuple[Any, Any], None]:
        params, opt = train
        change, opt = tx.update(grad(params, batch), opt, params)
        return (optax.apply_updates(params, change), opt), None

    def epoch(train: tuple[Any, Any, Any], _: Any) -> tuple[tuple[Any, Any, Any], None]:
        params, opt, (key, flat) = train
        key, k_perm = jax.random.split(key)
        order = jax.random.permutation(k_perm, rows)
        batches = jax.tree_util.tree_map(lambda a: a[order].reshape(s.minibatches, size, *a.shape[1:]), flat)
        (params, opt), _ = jax.lax.scan(minibatch, (params, opt), batches)
        return (params, opt, (key, flat)), None

    def update(carry: tuple[Any, ...], _: Any) -> tuple[tuple[Any, ...], Any]:
        carry, (obs, action, logp, value, reward, done) = jax.lax.scan(act, carry, None, s.rollout)
        params, opt, state, last_obs, key = carry
        adv, ret = advantages(value, reward, done, net.apply(params, last_obs)[1], s)
        flat = jax.tree_util.tree_map(lambda a: a.reshape(rows, *a.shape[2:]), (obs, action, logp, adv, ret))
        key, k_epochs = jax.random.split(key)
        (params, opt, _), _ = jax.lax.scan(epoch, (params, opt, (k_epochs, flat)), None, s.epochs)
        return (params, opt, state, last_obs, key), rows / jnp.maximum(done.sum(), 1.0)  # mean episode length

    def train(carry: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
        return jax.lax.scan(update, carry, None, updates)

    return init, train


def device_of(name: str) -> Any:
    """The JAX device for ``cpu`` or ``cuda`` (JAX calls NVIDIA GPUs ``gpu``)."""
    import jax

    platform = "gpu" if name.startswith("cuda") else name
    return jax.devices(platform)[0]


def measure(s: Settings, env_steps: int, device: str, repeats: int = 2, seed: int = 0) -> dict:
    """Compile once, then run ``updates`` rollouts-plus-updates ``repeats`` times; the best run's rate."""
    import jax

    updates = max(env_steps // (s.rollout * s.num_envs), 2)
    init, train = make_train(s, updates)
    with jax.default_device(device_of(device)):
        t0 = time.perf_counter()
        carry = jax.jit(init)(jax.random.PRNGKey(seed))
        compiled = jax.jit(train).lower(carry).compile()
        compile_seconds = time.perf_counter() - t0
        best, lengths = float("inf"), None
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            _, lengths = compiled(carry)
            lengths.block_until_ready()
            best = min(best, time.perf_counter() - t0)
    done = updates * s.rollout * s.num_envs
    return {"agent": "anchor_jax_ppo", "env": f"gymnax/{ENV_ID}", "num_envs": s.num_envs, "device": device,
            "bonus": "none", "rollout": s.rollout, "updates": updates, "env_steps": done, "seconds": best,
            "compile_seconds": compile_seconds, "env_steps_per_second": done / best, "ratio_to_anchor": 1.0,
            "episode_length_first": float(lengths[0]), "episode_length_last": float(lengths[-1]),
            "jax": jax.__version__, "jax_device": str(device_of(device))}


def run_rows(envs: list[int], env_steps: int, device: str, repeats: int, **settings: Any) -> tuple[list, str]:
    """One anchor row per copy count (none, and the reason, without jax)."""
    why = missing()
    if why:
        return [], why
    try:
        device_of(device)
    except RuntimeError as err:  # e.g. a CPU-only jaxlib on a GPU machine
        return [], f"jax has no {device} device here ({str(err).splitlines()[0][:200]})"
    return [measure(Settings(num_envs=n, **settings), env_steps, device, repeats) for n in envs], ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--envs", type=int, nargs="+", default=[1024, 8192])
    p.add_argument("--steps", type=int, default=2_000_000, help="env steps per row (all copies; at least 2 updates)")
    p.add_argument("--rollout", type=int, default=32)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--minibatches", type=int, default=4)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--repeats", type=int, default=2, help="timed runs per row (the best counts)")
    p.add_argument("--quick", action="store_true", help="a tiny run (64 copies, 2 updates): does it work")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU cores the process may use (0: all), so that it gets what torch gets beside it")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args()
    if args.quick:
        args.envs, args.steps, args.rollout, args.repeats = [64], 0, 8, 1
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU's memory to torch too
    if args.threads and hasattr(os, "sched_setaffinity"):  # XLA's CPU pool would take every core
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
    rows, note = run_rows(args.envs, args.steps, args.device, args.repeats, rollout=args.rollout,
                          epochs=args.epochs, minibatches=args.minibatches, hidden=args.hidden)
    emit({"benchmark": "anchor_jax_ppo",
          "figure": "env-steps/s of PPO on gymnax CartPole-v1 compiled whole (jax.jit + lax.scan: env, policy, "
                    "GAE and update), per number of copies",
          "unit": "env-steps/s (compilation excluded, best of --repeats)",
          "settings": {**vars(args), "ppo": asdict(Settings(num_envs=0, rollout=args.rollout, epochs=args.epochs,
                                                             minibatches=args.minibatches, hidden=args.hidden))},
          "machine": machine(), "results": {"anchor": rows, **({"note": note} if note else {})}}, args.out)


if __name__ == "__main__":
    main()
