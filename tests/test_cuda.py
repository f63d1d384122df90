"""CUDA paths (marker ``cuda``; skipped without a GPU): run by ``scripts/gpu_check.sh``.

Every test here builds the same thing on ``cuda`` as the CPU suite does on
``cpu``: the batched twins (same steps on both devices), world-model training
and sampling, the planners, the amortised agent where it exists, and a
checkpoint written by a CUDA run and read back on the CPU.
"""
from __future__ import annotations

import pytest
import torch

import envs

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="needs CUDA (run scripts/gpu_check.sh on a GPU)")]

CUDA = torch.device("cuda")


@pytest.mark.parametrize("env_id", [i for i in envs.registered_ids() if i.startswith("freeenergy/")])
def test_batched_twin_steps_the_same_on_cuda_and_cpu(env_id):
    """Counter-based env noise is device independent: the same seed and actions give the same states."""
    twins = [envs.make(env_id, 8, dev) for dev in ("cpu", CUDA)]
    obs = [t.reset(seed=3) for t in twins]
    torch.testing.assert_close(obs[1].cpu(), obs[0], rtol=1e-4, atol=1e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = twins[0].sample_actions(g)
        outs = [t.step(a.to(t.device)) for t in twins]
        torch.testing.assert_close(outs[1][0].cpu(), outs[0][0], rtol=1e-3, atol=1e-3)
        assert torch.equal(outs[1][2].cpu(), outs[0][2])  # terminated
    for t in twins:
        t.close()


@pytest.mark.parametrize("name", ["rae", "ae", "mc_ae", "vae", "dae", "gan"])
def test_world_model_trains_and_samples_on_cuda(name):
    from freeenergy.models import build_world_model

    torch.manual_seed(0)
    model = build_world_model(name, 4, CUDA)
    x = torch.randn(256, 4, device=CUDA)
    for _ in range(5):
        metrics = model.fit_step(x)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    samples = model.sample(64)
    assert samples.device.type == "cuda" and samples.shape == (64, 4) and torch.isfinite(samples).all()
    fe = model.free_energy(x[:16])
    assert fe.device.type == "cuda" and fe.shape == (16,)


@pytest.mark.parametrize("method", ["shooting", "cem"])
def test_planning_agent_acts_on_cuda(method):
    from agents.adversarial import AdversarialFreeEnergyAgent
    from agents.encoding import TransitionEncoder
    from agents.online import OnlineWorldModel
    from agents.planner import Planner
    from freeenergy.rae import RAE

    g = torch.Generator(device=CUDA).manual_seed(0)
    env = envs.make("freeenergy/GridMaze-v0", 4, CUDA)
    enc = TransitionEncoder(env.obs_dim, env.single_action_space, CUDA)
    world = OnlineWorldModel(enc, [RAE(enc.dim, device=CUDA)], 1000, 32, CUDA, g)
    planner = Planner(enc.actions, horizon=3, candidates=16, method=method, device=CUDA, generator=g)
    agent = AdversarialFreeEnergyAgent(world, planner, warmup_steps=2, generator=g)
    obs = env.reset(seed=0)
    for _ in range(6):
        a = agent.act(obs)
        nxt, _, term, trunc, info = env.step(a)
        fe = agent.observe(obs, a, info["final_obs"], term | trunc)
        agent.update()
        obs = nxt
    assert a.device.type == "cuda" and fe is not None and torch.isfinite(fe).all()


def test_amortised_agent_runs_on_cuda(tmp_path):
    if not _knows_amortised():
        pytest.skip("agent.type=amortised is not part of this build")
    from experiments.presets import resolve
    from experiments.runner import run_experiment

    cfg = resolve("maze-afe", ["agent.type=amortised", "env.device=cuda", "logging.wandb=disabled",
                               "run.seeds=[]"], debug=True)
    summary, _ = run_experiment(cfg, out=tmp_path / "run", quiet=True)
    assert summary["env_steps"] > 0


def _knows_amortised() -> bool:
    from experiments.config import ConfigError
    from experiments.presets import resolve

    try:
        resolve("maze-afe", ["agent.type=amortised"], debug=True)
    except ConfigError:
        return False
    return True


def test_checkpoint_saved_on_cuda_loads_on_cpu(tmp_path):
    """A run on the GPU, its checkpoint read on the CPU into a CPU agent, and resumed there."""
    from experiments.agent_run import make_agent, make_env
    from experiments.context import load_checkpoint_file
    from experiments.presets import resolve
    from experiments.runner import run_experiment

    over = ["env.device=cuda", "logging.wandb=disabled", "run.seeds=[]"]
    cfg = resolve("maze-afe", over, debug=True)
    run_experiment(cfg, out=tmp_path / "run", quiet=True)
    ckpt = load_checkpoint_file(tmp_path / "run" / "checkpoint.pt")
    tensors = [v for v in ckpt["state"]["agent"]["world"]["members"][0].values()] \
        if "world" in ckpt["state"]["agent"] else []
    assert all(t.device.type == "cpu" for t in tensors)
    cpu_cfg = resolve("maze-afe", ["env.device=cpu", "logging.wandb=disabled", "run.seeds=[]"], debug=True)
    env = make_env(cpu_cfg, torch.device("cpu"))
    agent = make_agent(cpu_cfg, env, torch.device("cpu"), torch.Generator().manual_seed(0))
    agent.load_state_dict(ckpt["state"]["agent"])


def test_novelty_archive_and_conditional_rae_on_cuda():
    """The kNN archive scores the same on both devices; a conditional RAE-GMM trains, completes and scores there."""
    from freeenergy.knn_novelty import NoveltyArchive
    from freeenergy.models import build_world_model

    g = torch.Generator().manual_seed(0)
    pts, q = torch.randn(300, 5, generator=g), torch.randn(40, 5, generator=g)
    scores = []
    for dev in ("cpu", CUDA):
        arch = NoveltyArchive(5, capacity=200, k=4, device=dev, generator=torch.Generator(device=dev).manual_seed(1),
                              chunk_elements=1000)
        arch.add(pts[:200].to(dev))
        scores.append(arch.score(q.to(dev), population=q.to(dev)).cpu())
    torch.testing.assert_close(scores[1], scores[0], rtol=1e-4, atol=1e-4)
    model = build_world_model("rae_gmm", 4, device=CUDA, hidden=16, code_dim=3, condition_dim=2, complete_steps=1,
                              prior_components=2)
    for _ in range(5):
        model.fit_step(torch.randn(64, 4, device=CUDA))
    mask = torch.tensor([True, True, False, False])
    out = model.complete(torch.zeros(8, 4, device=CUDA), mask)
    assert out.device.type == "cuda" and model.epistemic(out).shape == (8,)
