"""The exploration protocol (benchmarks/exploration.py) at debug size, and its statistics."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import exploration
from benchmarks.exploration_stats import intervals_overlap, mean_ci, ratio_ci, welch_p


def test_protocol_runs_presets_by_seed_resumes_and_reports(tmp_path):
    root, out = tmp_path / "runs", tmp_path / "results" / "exploration_debug.json"
    argv = ["--methods", "maze-afe", "maze-random", "--random", "maze-random", "--seeds", "2", "--debug",
            "--jobs", "0", "--run-root", str(root), "--out", str(out)]
    report = exploration.main(argv)
    assert set(report) >= {"benchmark", "figure", "unit", "settings", "machine", "results"}
    assert json.loads(out.read_text())["results"]["table"] == report["results"]["table"]
    assert out.with_suffix(".png").is_file()
    for m in ("maze-afe", "maze-random"):
        for s in (0, 1):
            assert (root / m / f"seed_{s}" / "summary.json").is_file()
            assert (root / m / f"seed_{s}" / "metrics.jsonl").is_file()
    res = report["results"]["methods"]["maze-afe"]
    assert res["seeds_done"] == 2 and len(res["coverage"]["values"]) == 2
    assert 0 < res["coverage"]["mean"] <= 1 and 0 < res["mean_env_coverage"]["mean"] <= res["coverage"]["mean"]
    assert res["env_steps"]["mean"] == 2 * 20 and res["budget"] == {"num_envs": 2, "steps_per_copy": 20}
    assert res["wall_seconds"]["mean"] > 0 and res["env_steps_per_second"]["mean"] > 0
    comp = report["results"]["comparisons"]["maze-afe"]["vs_random"]
    assert comp["ratio"] > 0 and comp["ci"][0] <= comp["ratio"] <= comp["ci"][1] and "welch_p" in comp
    assert report["results"]["failed_runs"] == {}
    # Resumable per (method, seed): finished runs are read, not run again.
    stamp = (root / "maze-afe" / "seed_1" / "summary.json").stat().st_mtime_ns
    (root / "maze-random" / "seed_1" / "summary.json").unlink()  # as if that run had stopped
    again = exploration.main(argv)
    assert (root / "maze-afe" / "seed_1" / "summary.json").stat().st_mtime_ns == stamp
    assert again["results"]["methods"]["maze-afe"] == report["results"]["methods"]["maze-afe"] | {
        "wall_seconds": again["results"]["methods"]["maze-afe"]["wall_seconds"],
        "env_steps_per_second": again["results"]["methods"]["maze-afe"]["env_steps_per_second"]}
    assert again["results"]["methods"]["maze-random"]["seeds_done"] == 2


def _fake_run(folder, coverage: float, corner: float | None = None, first: float | None = None,
              **extra: float) -> None:
    folder.mkdir(parents=True)
    summary = {"coverage": coverage, "mean_env_coverage": coverage / 2, "env_steps": 400, "wall_seconds": 2.0,
               "env_steps_per_second": 200.0, **extra}
    if corner is not None:
        summary["env"] = {"corner_reached": corner, "first_corner_episode": first}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "config.yaml").write_text("run: {steps: 100}\nenv: {num_envs: 4}\n")
    rows = [{"step": 50, "explore/coverage": coverage / 2}, {"step": 100, "explore/coverage": coverage}]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"step\": 1")


def test_deepsea_suite_reports_corner_share_first_episode_and_goal(tmp_path):
    for s in range(10):
        _fake_run(tmp_path / "deepsea-afe" / f"seed_{s}", 0.6, float(s < 8), 100.0 + s if s < 8 else None)
        _fake_run(tmp_path / "deepsea-rnd" / f"seed_{s}", 0.4, float(s < 3), 500.0 if s < 3 else None)
        _fake_run(tmp_path / "deepsea-random" / f"seed_{s}", 0.2 + 0.01 * s, 0.0, None)
    rep = exploration.main(["--suite", "deepsea", "--seeds", "10", "--no-run", "--run-root", str(tmp_path)])
    res = rep["results"]
    afe = res["methods"]["deepsea-afe"]
    assert afe["corner"]["seeds_reached"] == 8 and afe["corner"]["share_reached"] == pytest.approx(0.8)
    assert afe["corner"]["first_episode_median"] == 104.0 and afe["corner"]["first_episode_per_seed"][9] is None
    assert afe["budget"] == {"num_envs": 4, "steps_per_copy": 100}
    assert res["goals"]["met"] is True and res["goals"]["random_seeds_reached"] == 0
    assert res["comparisons"]["deepsea-afe"]["vs_rnd"]["ratio"] == pytest.approx(1.5)
    assert (tmp_path / "coverage.png").is_file()
    row = next(r for r in res["table"] if r["method"] == "deepsea-rnd")
    assert row["corner_seeds"] == 3 and row["ratio_to_random"] == pytest.approx(0.4 / 0.245)


def test_noisytv_suite_reports_tv_share_with_intervals_and_goal(tmp_path):
    for s in range(10):
        _fake_run(tmp_path / "noisytv-amortised-total" / f"seed_{s}", 0.3, tv_fraction=0.30 + 0.02 * (s % 3))
        _fake_run(tmp_path / "noisytv-amortised-epistemic" / f"seed_{s}", 0.5, tv_fraction=0.02)
        _fake_run(tmp_path / "noisytv-random" / f"seed_{s}", 0.2)  # no tv_fraction: reported as missing
    res = exploration.main(["--suite", "noisytv", "--seeds", "10", "--no-run", "--run-root", str(tmp_path)])["results"]
    total = res["methods"]["noisytv-amortised-total"]["tv_fraction"]
    assert total["n"] == 10 and total["ci"][0] < total["mean"] < total["ci"][1]
    assert res["methods"]["noisytv-random"]["tv_fraction"]["mean"] is None
    assert res["goals"]["met"] is True and res["goals"]["epistemic_tv_share"] == pytest.approx(0.02)
    row = next(r for r in res["table"] if r["method"] == "noisytv-amortised-epistemic")
    assert row["tv_fraction"] == pytest.approx(0.02) and row["ratio_to_random"] == pytest.approx(2.5)
    # Below the goal on the total-surprise side: not met.
    for s in range(10):
        (tmp_path / "noisytv-amortised-total" / f"seed_{s}" / "summary.json").write_text(
            json.dumps({"coverage": 0.3, "tv_fraction": 0.1}))
    res = exploration.main(["--suite", "noisytv", "--seeds", "10", "--no-run", "--run-root", str(tmp_path)])["results"]
    assert res["goals"]["met"] is False and res["goals"]["total_tv_share"] == pytest.approx(0.1)


def test_statistics():
    a, b = [2.0, 2.2, 1.8, 2.1, 1.9], [1.0, 1.1, 0.9, 1.05, 0.95]
    m = mean_ci(a)
    assert m["mean"] == pytest.approx(2.0) and m["ci"][0] < 2.0 < m["ci"][1] and m["n"] == 5
    r = ratio_ci(a, b)
    assert r["ratio"] == pytest.approx(2.0) and 1.7 < r["ci"][0] < 2.0 < r["ci"][1] < 2.3
    assert welch_p(a, b) < 1e-4 and welch_p(a, a) == pytest.approx(1.0)
    assert ratio_ci(a, [0.0, 0.0])["ratio"] is None and mean_ci([None, float("nan")])["mean"] is None
    assert intervals_overlap(mean_ci(a), mean_ci(b)) is False and intervals_overlap(m, m) is True
    rng = np.random.default_rng(0)  # the t interval covers the true mean about 95% of the time
    hits = sum(lo <= 0 <= hi for lo, hi in (mean_ci(rng.normal(size=10))["ci"] for _ in range(400)))
    assert 0.9 < hits / 400 < 0.99 and not math.isnan(hits)


def test_bad_seed_count_is_one_line(capsys):
    with pytest.raises(SystemExit):
        exploration.main(["--suite", "maze-large", "--seeds", "0"])
    assert "--seeds=0" in capsys.readouterr().err
