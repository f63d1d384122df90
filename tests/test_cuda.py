"""Device paths, on the CPU here and on CUDA in ``scripts/gpu_check.sh`` (marker ``cuda``).

Every test takes a ``device`` object and is run twice: on ``torch.device("cpu")``
by the ordinary suite, and on ``torch.device("cuda")`` under the marker ``cuda``
(skipped without a GPU). Both build through the same public constructors and
factories, with keyword arguments, so a signature change breaks the CPU test
first and a CUDA path cannot rot unseen. Covered: the batched twins (the same
steps on the device as on the CPU), world-model training and sampling, the
planners, every run kind (agent with a planner, amortised, random,
stable-baselines3; rare-state restarts; umbrella; generative; novelty), more
copies than ``agent.online.replay_capacity``, and a checkpoint written on the device
and read back on the CPU.
"""
from __future__ import annotations

import warnings

import pytest
import torch

import envs
from freeenergy.model_table import model_names

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
NO_CUDA = "needs CUDA (run scripts/gpu_check.sh on a GPU)"
DEVICES = [pytest.param(CPU, id="cpu"),
           pytest.param(CUDA, id="cuda", marks=[pytest.mark.cuda,
                                                pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)])]
QUIET = ["logging.wandb=disabled", "run.seeds=[]"]


def run_preset(preset: str, device: torch.device, tmp_path, *overrides: str) -> dict:
    """``preset`` at its debug size on ``device``, through the runner; its summary."""
    from experiments.config.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve(preset, [f"env.device={device}", *QUIET, *overrides], debug=True)
    summary, _ = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    return summary


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("env_id", [i for i in envs.registered_ids() if i.startswith("freeenergy/")])
def test_batched_twin_steps_as_on_the_cpu(env_id, device):
    """Counter-based env noise is device independent: the same seed and actions give the same states."""
    twins = [envs.make(env_id, 8, "cpu"), envs.make(env_id, 8, device)]
    obs = [t.reset(seed=3) for t in twins]
    assert obs[1].device.type == device.type
    torch.testing.assert_close(obs[1].cpu(), obs[0], rtol=1e-4, atol=1e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = twins[0].sample_actions(g)
        outs = [t.step(a.to(t.device)) for t in twins]
        torch.testing.assert_close(outs[1][0].cpu(), outs[0][0], rtol=1e-3, atol=1e-3)
        assert torch.equal(outs[1][2].cpu(), outs[0][2])  # terminated
    for t in twins:
        t.close()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", model_names())
def test_world_model_trains_and_samples(name, device):
    from freeenergy.models import build_world_model

    torch.manual_seed(0)
    model = build_world_model(name, 4, device=device)
    x = torch.randn(256, 4, device=device)
    for _ in range(5):
        metrics = model.fit_step(x)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    samples = model.sample(64)
    assert samples.device.type == device.type and samples.shape == (64, 4) and torch.isfinite(samples).all()
    fe = model.free_energy(x[:16])
    assert fe.device.type == device.type and fe.shape == (16,)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["shooting", "cem"])
def test_planning_agent_acts(method, device):
    from agents.adversarial import AdversarialFreeEnergyAgent
    from agents.encoding import TransitionEncoder
    from agents.online import OnlineWorldModel
    from agents.planner import Planner
    from agents.protocol import Step
    from freeenergy.rae import RAE

    g = torch.Generator(device=device).manual_seed(0)
    env = envs.make("freeenergy/GridMaze-v0", 4, device)
    enc = TransitionEncoder(env.obs_dim, env.single_action_space, device=device)
    world = OnlineWorldModel(encoder=enc, members=[RAE(enc.dim, device=device)], replay_capacity=1000,
                             batch_size=32, device=device, generator=g)
    planner = Planner(codec=enc.actions, horizon=3, candidates=16, method=method, device=device, generator=g)
    agent = AdversarialFreeEnergyAgent(world=world, planner=planner, warmup_steps=2, generator=g)
    obs = env.reset(seed=0)
    for _ in range(6):
        a = agent.act(obs)
        nxt, rew, term, trunc, info = env.step(a)
        fe = agent.observe(Step(obs=obs, action=a, next_obs=info["final_obs"], done=term | trunc, reward=rew))
        agent.update()
        obs = nxt
    assert a.device.type == device.type and fe is not None and torch.isfinite(fe).all()


# One tiny run of each run kind; the last two restart copies at rare states (the run's generator draws them).
RUN_KINDS = {
    "planner": ("maze-afe", ["run.steps=6"]),
    "amortised": ("maze-large-afe", ["run.steps=16"]),
    "random": ("maze-large-random", ["run.steps=8"]),
    "sb3": ("maze-ppo-afe", ["run.steps=8"]),
    "rare-state-amortised": ("maze-large-umbrella-afe", ["run.steps=24"]),
    "rare-state-planner": ("maze-umbrella-afe", ["run.steps=12", "umbrella.refresh=5", "env.num_envs=4"]),
    "umbrella": ("umbrella-muller-brown", ["run.steps=60", "umbrella.equilibration=10"]),
    "generative": ("generative-parabola", ["generative.steps=3", "generative.models=[rae,ae]"]),
    "novelty": ("novelty-waves", []),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", sorted(RUN_KINDS))
def test_each_run_kind_runs(kind, device, tmp_path):
    preset, overrides = RUN_KINDS[kind]
    summary = run_preset(preset, device, tmp_path, *overrides)
    assert (tmp_path / "run" / "summary.json").is_file()
    if kind.startswith("rare-state"):
        assert summary["umbrella_restarts"] > 0  # the restart draws ran
    elif kind in ("planner", "amortised", "random", "sb3", "umbrella"):
        assert summary["env_steps"] > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("preset", ["maze-afe", "maze-large-umbrella-afe"])
def test_more_copies_than_replay_capacity_runs(preset, device, tmp_path):
    """``env.num_envs`` above the replay's capacity: the replay grows to what arrives between fits, and says so."""
    with pytest.warns(UserWarning, match=r"agent\.online\.replay_capacity=3 .*env\.num_envs=8"):
        summary = run_preset(preset, device, tmp_path, "env.num_envs=8", "agent.online.replay_capacity=3",
                             "run.steps=12")
    assert summary["env_steps"] == 8 * 12


@pytest.mark.parametrize("device", DEVICES)
def test_amortised_rollout_longer_than_replay_capacity_is_kept_whole(device):
    """The throughput benchmark's case: a rollout of more transitions than replay_capacity lands whole in replay."""
    from agents.protocol import Step
    from experiments.build import make_agent, make_env
    from experiments.config.presets import resolve

    cfg = resolve("maze-large-afe", [f"env.device={device}", "env.num_envs=16", "agent.online.replay_capacity=10"],
                  debug=True)
    env = make_env(cfg, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        agent = make_agent(cfg, env, device, torch.Generator(device=device).manual_seed(0))
    rollout = agent.learner.s.rollout
    assert agent.world.replay.capacity == 16 * rollout  # grown: one rollout of every copy
    obs = env.reset(seed=0)
    for _ in range(cfg.agent.warmup_steps + rollout):
        a = agent.act(obs)
        nxt, rew, term, trunc, info = env.step(a)
        agent.observe(Step(obs=obs, action=a, next_obs=info["final_obs"], done=term | trunc, reward=rew,
                           map_xy=info["final_map_xy"]))
        obs = nxt
    # Every transition of the rollout is in replay (none dropped to fit), where its slots say.
    slots = agent.world.last_slots
    assert slots.numel() == 16 * rollout
    rows = agent.world.replay.rows[slots]
    torch.testing.assert_close(rows[:, : env.obs_dim], agent.raw_obs.reshape(-1, env.obs_dim))
    assert agent.update()  # the PPO update and the world-model fit run


@pytest.mark.parametrize("device", DEVICES)
def test_checkpoint_saved_on_device_loads_on_cpu(device, tmp_path):
    """A run on ``device``, its checkpoint read on the CPU into a CPU agent, and resumed there."""
    from experiments.build import make_agent, make_env
    from experiments.config.presets import resolve
    from experiments.context import load_checkpoint_file

    run_preset("maze-afe", device, tmp_path, "run.steps=6")
    ckpt = load_checkpoint_file(tmp_path / "run" / "checkpoint.pt")
    tensors = list(ckpt["state"]["agent"]["world"]["members"][0].values())
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    cpu_cfg = resolve("maze-afe", ["env.device=cpu", *QUIET], debug=True)
    env = make_env(cpu_cfg, CPU)
    agent = make_agent(cpu_cfg, env, CPU, torch.Generator().manual_seed(0))
    agent.load_state_dict(ckpt["state"]["agent"])
    obs = env.reset(seed=0)
    assert agent.act(obs).device.type == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_novelty_archive_and_conditional_rae(device):
    """The kNN archive scores as on the CPU; a conditional RAE-GMM trains, completes and scores on the device."""
    from freeenergy.knn_novelty import NoveltyArchive
    from freeenergy.models import build_world_model

    g = torch.Generator().manual_seed(0)
    pts, q = torch.randn(300, 5, generator=g), torch.randn(40, 5, generator=g)
    scores = []
    for dev in (torch.device("cpu"), device):
        arch = NoveltyArchive(5, capacity=200, k=4, device=dev, generator=torch.Generator(device=dev).manual_seed(1),
                              chunk_elements=1000)
        arch.add(pts[:200].to(dev))
        scores.append(arch.score(q.to(dev), population=q.to(dev)).cpu())
    torch.testing.assert_close(scores[1], scores[0], rtol=1e-4, atol=1e-4)
    model = build_world_model("rae_gmm", 4, device=device, hidden=16, code_dim=3, condition_dim=2, complete_steps=1,
                              prior_components=2)
    for _ in range(5):
        model.fit_step(torch.randn(64, 4, device=device))
    mask = torch.tensor([True, True, False, False], device=device)
    out = model.complete(torch.zeros(8, 4, device=device), mask)
    assert out.device.type == device.type and model.epistemic(out).shape == (8,)
