"""The fair protocol: each seed its own maze, every method beside the random policy with the same restarts."""
from __future__ import annotations

import json

import pytest

from benchmarks import protocol
from benchmarks.exploration_stats import paired_ratio_ci


def test_every_method_is_compared_with_the_random_policy_with_the_same_restarts():
    methods = protocol.SUITES["maze-large"]["methods"]
    for label in methods:
        ref = protocol.reference(label)
        assert ref in methods
        if label.endswith("+restarts") and label != "random+restarts":
            assert ref == "random+restarts"
    # each method appears with and without restarts
    plain = [m for m in methods if "+" not in m]
    assert all(f"{m}+restarts" in methods for m in plain)


def test_paired_ratio_counts_wins_and_cancels_the_world_of_each_seed():
    a, b = [2.0, 4.0, 6.0], [1.0, 2.0, 3.0]  # a is twice b on every seed, worlds differ threefold
    r = paired_ratio_ci(a, b)
    assert r["ratio"] == pytest.approx(2.0) and r["ci"] == [pytest.approx(2.0), pytest.approx(2.0)]
    assert r["wins"] == 3 and r["pairs"] == 3
    r = paired_ratio_ci([1.0, None, 3.0], [2.0, 1.0, 1.0])
    assert r["pairs"] == 2 and r["wins"] == 1


@pytest.mark.slow
def test_protocol_runs_each_seed_on_its_own_maze(tmp_path):
    out = tmp_path / "p.json"
    result = protocol.main(["--seeds", "3", "4", "--debug", "--jobs", "2", "--run-root", str(tmp_path / "runs"),
                            "--only", "random", "random+restarts", "--out", str(out)])
    rows = result["results"]["methods"]
    assert not result["results"]["failed_runs"]
    assert rows["random"]["seeds_done"] == 2 and rows["random+restarts"]["vs"] == "random"
    assert rows["random+restarts"]["union_ratio"]["pairs"] == 2
    for seed in (3, 4):
        cfg = (tmp_path / "runs" / "random" / f"seed_{seed}" / "config.yaml").read_text()
        assert f"layout_seed: {seed}" in cfg
    summary = json.loads((tmp_path / "runs" / "random+restarts" / "seed_3" / "summary.json").read_text())
    assert summary["restarts"] > 0
    assert json.loads(out.read_text())["settings"]["per_seed"] == "env.kwargs.layout_seed={seed}"
