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


def _row(union: list[float], **extra) -> dict:
    return {"union": {"mean": sum(union) / len(union), "values": union}, "union_per_seed": union,
            "seeds_done": len(union), **extra}


def test_comparisons_pair_by_seed_and_goals_follow_the_figures():
    rows = {"afe": _row([0.2, 0.4]), "population": _row([0.3, 0.6]), "count": _row([0.4, 0.8]),
            "random": _row([0.1, 0.2])}
    comps = {(c["method"], c["against"]): c for c in protocol.comparisons(rows)}
    assert comps[("population", "afe")]["union_ratio"] == pytest.approx(1.5)
    assert comps[("afe", "count")]["seeds_won"] == 0 and ("afe+restarts", "random+count-restarts") not in comps
    rows["afe"]["union_ratio"] = {"ratio": 2.0, "ci": [1.8, 2.2]}
    rows["afe"]["per_copy_ratio"] = {"ratio": 2.5}
    goal = protocol.goals(rows)["no_restarts:afe"]
    assert goal["union_x_count"] == pytest.approx(0.5) and goal["met"] is False  # below the count bonus
    rows["count"] = _row([0.1, 0.2])
    assert protocol.goals(rows)["no_restarts:afe"]["met"] is True


def test_deepsea_goal_needs_the_corner_with_one_hot_and_with_positions():
    rows = {m: _row([1.0] * 10, corner_seeds=c) for m, c in
            {"random": 0, "afe": 9, "afe-position": 2, "afe-position-fourier": 8}.items()}
    goal = protocol.goals(rows)["deepsea"]
    assert goal["met"] is True and goal["corner_seeds"]["afe-position"] == 2
    rows["afe-position-fourier"]["corner_seeds"] = 7
    assert protocol.goals(rows)["deepsea"]["met"] is False
