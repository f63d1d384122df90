"""Sizes that follow from the copies, the memory estimate before allocating, and draws on the right device.

- ``experiments.sizes``: the replay holds what arrives between two world-model fits;
- ``experiments.guards``: the estimate counts every buffer sized by ``env.num_envs``
  (rollout storage ``T x N``, the grown replay, per-copy visits) and refuses in one line;
- every random draw with a generator happens on that generator's device (a CUDA
  generator cannot fill a CPU tensor), checked in the source since a CPU run cannot see it;
- ``env.device=cuda`` without CUDA: one line, exit code 2.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from experiments import cli, guards, sizes
from experiments.config.presets import resolve

ROOT = Path(__file__).resolve().parents[1]


def cfg_of(preset: str, *overrides: str):
    return resolve(preset, ["logging.wandb=disabled", *overrides], debug=True)


@pytest.mark.parametrize("preset, overrides, rows", [
    ("maze-afe", ["env.num_envs=64"], 64),  # a planner fits after every step
    ("maze-large-afe", ["env.num_envs=64"], 64 * 8),  # the amortised agent after each rollout (debug: 8 steps)
    ("maze-ppo-afe", ["env.num_envs=64", "agent.online.fit_every=4"], 64 * 4),  # SB3's bonus every 4th vec step
])
def test_replay_grows_to_the_transitions_between_fits(preset, overrides, rows):
    small = cfg_of(preset, *overrides, "agent.online.replay_capacity=5")
    with pytest.warns(UserWarning, match=r"agent\.online\.replay_capacity=5 is smaller than the .*env\.num_envs=64"):
        assert sizes.replay_capacity(small, 64) == rows
    big = cfg_of(preset, *overrides, f"agent.online.replay_capacity={rows + 1}")
    assert sizes.replay_capacity(big, 64) == rows + 1  # a floor the user sets, never shrunk


def test_estimate_counts_buffers_sized_by_the_copies():
    def parts_at(copies: int) -> dict:
        cfg = cfg_of("maze-large-afe", f"env.num_envs={copies}", "agent.online.replay_capacity=100")
        return guards.estimate_parts(cfg, obs_dim=2, act_dim=4, num_cells=2601)

    parts, more = parts_at(1000), parts_at(4000)
    for name in ("rollout storage", "replay buffer", "per-copy visits"):
        assert more[name][0] == pytest.approx(4 * parts[name][0]), name
    assert "agent.ppo.rollout=8 x env.num_envs=1000" in parts["rollout storage"][1]
    assert "grown to 8000" in parts["replay buffer"][1]


def test_too_many_copies_is_one_line_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(guards, "available_bytes", lambda device: 2**30)  # a 1 GiB machine, on any machine
    code = cli.main(["run", "maze-large-afe", "--debug", "logging.wandb=disabled", "--quiet",
                     "env.num_envs=1000000", "agent.ppo.rollout=512", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "needs about" in err and "rollout storage" in err and "agent.ppo.rollout=512 x env.num_envs=1000000" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("preset", ["maze-large-afe", "umbrella-muller-brown"])
def test_cuda_device_without_cuda_is_one_line_exit_2(tmp_path, capsys, preset):
    code = cli.main(["run", preset, "--debug", "logging.wandb=disabled", "--quiet", "env.device=cuda",
                     "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "env.device='cuda'" in err and "CUDA is not available" in err
    assert not (tmp_path / "run").exists()


def test_rare_state_memory_holds_a_step_of_every_copy():
    from agents.rare_state import RareStateBias

    rb = RareStateBias(num_envs=10_000, windows=4, memory=4096)
    assert rb.memory >= 10_000  # else the windows could never be placed (they need one step of every copy)


#: Random draws that take a ``device`` (default: the CPU) and a ``generator``.
DRAWS = {"rand", "randn", "randint", "randperm"}


def _mismatched_draws(path: Path, root: Path = ROOT) -> list[str]:
    """Draws with ``generator=`` whose device is left to the CPU default or written as a literal."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DRAWS:
            kw = {k.arg: k.value for k in node.keywords}
            if "generator" in kw and (kw.get("device") is None or isinstance(kw["device"], ast.Constant)):
                bad.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)[:90]}")
    return bad


def test_every_draw_with_a_generator_happens_on_a_device_it_names():
    """``torch.randint(..., generator=g, device="cpu")`` fails when ``g`` is the run's CUDA generator."""
    files = [p for pkg in ("agents", "envs", "freeenergy", "experiments") for p in sorted((ROOT / pkg).rglob("*.py"))]
    bad = [line for p in files for line in _mismatched_draws(p)]
    assert not bad, "draw on the generator's device (device=generator.device) or the run's:\n" + "\n".join(bad)


def test_the_draw_check_sees_a_literal_device(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("import torch\ng = None\ntorch.randperm(3, generator=g, device='cpu')\n"
                   "torch.randint(3, (2,), generator=g)\ntorch.rand(2, generator=g, device=g.device)\n")
    found = [line.split(":")[1] for line in _mismatched_draws(src, tmp_path)]
    assert found == ["3", "4"]
