"""The exploration protocol that cannot fool itself: every method with and without restarts, each seed its own world.

- **Each seed draws its own world**: ``env.kwargs.layout_seed = seed`` (the large maze),
  so no method can be tuned to one layout; settings are tuned on seeds 100-102 and
  reported on seeds 0-9.
- **Every method with and without restarts**: the same return-then-explore restarts
  (``restarts.every``, ranked by the world model's free energy) for the random policy,
  the count-bonus PPO, RND and the adversarial agent, beside the Go-Explore oracle
  (a random policy with count-ranked restarts).
- **Figures**: union coverage (``coverage``), per-copy coverage (``mean_env_coverage``)
  and their ratio (how much the copies spread instead of herding), mean and Student-t
  95% interval over seeds; ratios to the random policy *with the same restarts*,
  paired by seed (bootstrap interval, seeds won); DeepSea: seeds that reached the
  far corner.

Each method is ``LABEL=PRESET[,KEY=VALUE...]``; runs are resumable folders under
``--run-root`` (:mod:`benchmarks.exploration` runs and reads them).

    python benchmarks/protocol.py --suite maze-large --seeds 0 1 2 3 4 5 6 7 8 9 --jobs 2 \\
        --out benchmarks/results/protocol_maze_large.json
    python benchmarks/protocol.py --suite maze-large --seeds 100 101 102 --jobs 2   # tuning seeds
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.exploration import _float, draw, read_run, run_one  # noqa: E402
from benchmarks.exploration_stats import mean_ci, paired_ratio_ci  # noqa: E402
from benchmarks.report import emit, machine  # noqa: E402

RESTART = ["restarts.every=128", "restarts.fraction=0.25", "restarts.rank=afe"]

#: suite -> methods (label -> preset and overrides), the reference of each method, the goals' roles.
SUITES: dict[str, dict[str, Any]] = {
    "maze-large": {
        "per_seed": "env.kwargs.layout_seed={seed}",
        "methods": {
            "random": ["maze-large-random"],
            "count": ["maze-large-count"],
            "rnd-paper": ["maze-large-rnd-paper"],
            "afe": ["maze-large-afe"],
            "population": ["maze-large-population"],
            "random+restarts": ["maze-large-umbrella-random"],
            "count+restarts": ["maze-large-count", *RESTART],
            "rnd-paper+restarts": ["maze-large-rnd-paper", *RESTART],
            "afe+restarts": ["maze-large-afe", *RESTART],
            "population+restarts": ["maze-large-population", *RESTART],
            "random+count-restarts": ["maze-large-umbrella-count"],
        },
    },
    "deepsea": {
        "per_seed": "env.kwargs.mapping_seed={seed}",
        "methods": {
            "random": ["deepsea-random"],
            "afe": ["deepsea-afe"],
            "afe-position": ["deepsea-afe", "env.kwargs.observation=position"],
            "afe-position-fourier": ["deepsea-afe-position"],
            "population-position-fourier": ["deepsea-afe-position", "agent.intrinsic.name=population",
                                            "agent.intrinsic.population.space=code"],
            "random+restarts": ["deepsea-umbrella-random"],
            "afe-position-fourier+restarts": ["deepsea-afe-position", "restarts.every=100",
                                              "restarts.fraction=0.25", "restarts.rank=afe"],
            "random+count-restarts": ["deepsea-umbrella-count"],
        },
    },
}


def reference(label: str) -> str:
    """The random policy with the same restarts as ``label``; the random policy without them for those."""
    if label.endswith("+restarts") and label != "random+restarts":
        return "random+restarts"
    return "random"


def _parse_method(spec: str) -> tuple[str, list[str]]:
    label, _, rest = spec.partition("=")
    parts = [p for p in rest.split(",") if p]
    if not label or not parts:
        raise SystemExit(f"--method {spec!r} is invalid: expected LABEL=PRESET[,KEY=VALUE...]")
    return label, parts


def run_methods(methods: dict[str, list[str]], seeds: list[int], root: Path, per_seed: str | None,
                jobs: int, threads: int, debug: bool) -> dict[str, str]:
    """Every (method, seed) run (resumable); returns failures ``label/seed -> error``."""
    from concurrent.futures import ThreadPoolExecutor

    tasks = [(m, s) for s in seeds for m in methods]

    def go(task: tuple[str, int]) -> tuple[str, dict]:
        m, s = task
        preset, *overrides = methods[m]
        if per_seed:
            overrides = [*overrides, per_seed.format(seed=s)]
        t0 = time.perf_counter()
        out = run_one(preset, s, root / m / f"seed_{s}", overrides, debug, threads)
        print(f"[protocol] {m} seed {s}: {out['status']} ({time.perf_counter() - t0:.0f} s)"
              + (f": {out['error']}" if "error" in out else ""), file=sys.stderr, flush=True)
        return f"{m}/seed_{s}", out

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return {k: o["error"] for k, o in pool.map(go, tasks) if o["status"] == "failed"}


def report(methods: dict[str, list[str]], seeds: list[int], root: Path) -> dict[str, Any]:
    """Per method: union, per-copy and their ratio over seeds; paired ratios to its random reference."""
    recs = {m: {s: r for s in seeds if (r := read_run(root / m / f"seed_{s}")) is not None} for m in methods}
    rows = {}
    for m in methods:
        mine = recs[m]
        union = [_float(mine[s]["coverage"]) if s in mine else None for s in seeds]
        copy = [_float(mine[s]["mean_env_coverage"]) if s in mine else None for s in seeds]
        spread = [u / c if u is not None and c else None for u, c in zip(union, copy)]
        row: dict[str, Any] = {"preset": methods[m], "seeds_done": len(mine), "union": mean_ci(union),
                               "per_copy": mean_ci(copy), "union_over_per_copy": mean_ci(spread),
                               "wall_seconds": mean_ci([_float(r.get("wall_seconds")) for r in mine.values()]),
                               "union_per_seed": union}
        corners = [_float(r.get("corner_reached")) for r in mine.values()]
        if any(c is not None for c in corners):
            row["corner_seeds"] = int(sum(1 for c in corners if c))
        ref = reference(m)
        if ref in recs and ref != m:
            theirs = recs[ref]
            ref_union = [_float(theirs[s]["coverage"]) if s in theirs else None for s in seeds]
            ref_copy = [_float(theirs[s]["mean_env_coverage"]) if s in theirs else None for s in seeds]
            row["vs"] = ref
            row["union_ratio"] = paired_ratio_ci(union, ref_union)
            row["per_copy_ratio"] = paired_ratio_ci(copy, ref_copy)
        rows[m] = row
    return {"methods": rows, "records": recs}


def goals(rows: dict[str, Any]) -> dict[str, Any]:
    """The maze goals as measured (None where a method is missing)."""
    def ratio(a: str, b: str, key: str = "union") -> float | None:
        if a not in rows or b not in rows or not rows[b][key]["mean"]:
            return None
        return rows[a][key]["mean"] / rows[b][key]["mean"]

    out: dict[str, Any] = {}
    corners = {m: r["corner_seeds"] for m, r in rows.items() if "corner_seeds" in r}
    if corners:  # DeepSea: the far corner, one-hot and position observations
        onehot = corners.get("afe", 0)
        positions = {m: c for m, c in corners.items() if "position" in m and "restarts" not in m}
        best = max(positions, key=positions.__getitem__, default=None)
        n = max(r["seeds_done"] for r in rows.values())
        out["deepsea"] = {"text": "DeepSea-20: >= 8/10 seeds reach the far corner with one-hot and with position "
                                  "observations", "corner_seeds": corners, "seeds": n,
                          "one_hot": onehot, "best_with_positions": best,
                          "met": n >= 10 and onehot >= 8 and positions.get(best, 0) >= 8}
        return out
    for m in ("afe", "population"):  # the adversarial term, and novelty search in the model's code space
        if m in rows and "random" in rows:
            r = rows[m].get("union_ratio", {})
            g = out[f"no_restarts:{m}"] = {
                "text": f"{m} >= 1.5x random union (interval above 1) and >= count-bonus PPO; per copy >= 2x",
                "union_x_random": r.get("ratio"), "union_x_random_ci": r.get("ci"),
                "union_x_count": ratio(m, "count"),
                "per_copy_x_random": rows[m].get("per_copy_ratio", {}).get("ratio"),
            }
            g["met"] = bool(g["union_x_random"] and g["union_x_random"] >= 1.5
                            and (g["union_x_random_ci"][0] or 0) > 1
                            and (g["union_x_count"] or 0) >= 1 and (g["per_copy_x_random"] or 0) >= 2)
        if f"{m}+restarts" in rows and "random+restarts" in rows:
            r = rows[f"{m}+restarts"].get("union_ratio", {})
            g = out[f"restarts:{m}"] = {
                "text": f"{m} policy + restarts >= 1.5x random policy with the same restarts, "
                        "and >= 0.8x the count-ranked oracle",
                "union_x_random_restarts": r.get("ratio"), "ci": r.get("ci"),
                "union_x_oracle": ratio(f"{m}+restarts", "random+count-restarts")}
            g["met"] = bool((g["union_x_random_restarts"] or 0) >= 1.5 and (g["union_x_oracle"] or 0) >= 0.8)
    return out


#: Paired comparisons beside the references: (method, against) where both ran.
COMPARE = [("population", "afe"), ("afe", "count"), ("population", "count"),
           ("random+restarts", "random+count-restarts"), ("afe+restarts", "random+count-restarts"),
           ("population+restarts", "random+count-restarts"), ("count+restarts", "random+count-restarts")]


def comparisons(rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Union coverage of ``method`` over ``against``, paired by seed (ratio of means, bootstrap CI, wins)."""
    out = []
    for a, b in COMPARE:
        if a in rows and b in rows:
            r = paired_ratio_ci(rows[a]["union_per_seed"], rows[b]["union_per_seed"])
            out.append({"method": a, "against": b, "union_ratio": r["ratio"], "union_ratio_ci": r["ci"],
                        "seeds_won": r["wins"], "pairs": r["pairs"]})
    return out


def table(rows: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per method: what the README's table shows."""
    out = []
    for m, r in rows.items():
        ratio = r.get("union_ratio", {})
        row = {"method": m, "seeds": r["seeds_done"], "union": r["union"]["mean"], "union_ci": r["union"]["ci"],
               "per_copy": r["per_copy"]["mean"], "union_over_per_copy": r["union_over_per_copy"]["mean"],
               "vs": r.get("vs"), "union_x_vs": ratio.get("ratio"), "union_x_vs_ci": ratio.get("ci"),
               "seeds_won": ratio.get("wins"), "per_copy_x_vs": r.get("per_copy_ratio", {}).get("ratio")}
        if "corner_seeds" in r:
            row["corner_seeds"] = r["corner_seeds"]
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=sorted(SUITES), default="maze-large")
    ap.add_argument("--method", action="append", default=[], metavar="LABEL=PRESET[,KEY=VALUE...]",
                    help="methods instead of the suite's (repeatable)")
    ap.add_argument("--only", nargs="+", help="the suite's methods to run (by label)")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    ap.add_argument("--run-root", help="default runs/protocol/<suite>")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--debug", action="store_true", help="the presets' debug sizes (tests)")
    ap.add_argument("--no-run", action="store_true", help="only read the runs that exist")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    suite = SUITES[args.suite]
    methods = dict(_parse_method(m) for m in args.method) or dict(suite["methods"])
    if args.only:
        unknown = sorted(set(args.only) - set(methods))
        if unknown:
            raise SystemExit(f"--only {unknown} is invalid: expected labels of {sorted(methods)}")
        methods = {m: methods[m] for m in args.only}
    root = Path(args.run_root or Path("runs") / "protocol" / args.suite).resolve()
    t0 = time.perf_counter()
    failed = {} if args.no_run else run_methods(methods, args.seeds, root, suite["per_seed"], args.jobs,
                                                args.threads, args.debug)
    rep = report(methods, args.seeds, root)
    fig = Path(args.out).with_suffix(".png") if args.out else root / "coverage.png"
    draw({m: list(r.values()) for m, r in rep["records"].items()}, fig,
         f"{args.suite}: coverage over seeds {args.seeds[0]}-{args.seeds[-1]} (mean, 95% band)")
    out = {"benchmark": "protocol",
           "figure": "union and per-copy coverage per method, with and without restarts; paired ratios to the "
                     "random policy with the same restarts",
           "unit": "share of reachable cells; ratio of means over paired seeds with 95% bootstrap CI",
           "settings": {"suite": args.suite, "seeds": args.seeds, "per_seed": suite["per_seed"],
                        "methods": methods, "jobs": args.jobs, "threads": args.threads, "debug": args.debug,
                        "command": "python benchmarks/protocol.py " + " ".join(argv if argv is not None
                                                                            else sys.argv[1:])},
           "machine": machine(),
           "results": {"methods": rep["methods"], "table": table(rep["methods"]), "goals": goals(rep["methods"]),
                       "comparisons": comparisons(rep["methods"]),
                       "failed_runs": failed,
                       "protocol_wall_seconds": time.perf_counter() - t0}}
    emit(out, args.out)
    return out


if __name__ == "__main__":
    main()
