"""The exploration protocol: methods x seeds through the experiments runner, with statistics.

Each method is a preset; each (method, seed) is one ``freeenergy run PRESET run.seed=S``
in ``RUN_ROOT/METHOD/seed_S`` (a subprocess, so runs cannot disturb one another).
Resumable per (method, seed): a run whose ``summary.json`` exists is read, not run
again; one that stopped with a checkpoint is resumed; one that stopped before its
first checkpoint starts again. From every run's ``summary.json`` and
``metrics.jsonl`` it reports, per method:

- union coverage (``coverage``) and per-copy coverage (``mean_env_coverage``):
  mean, std and the Student-t 95% interval over seeds;
- wall time and env-steps/s;
- where the env reports them (DeepSea): the share of seeds that reached the far
  corner and the episode at which each first did;
- ratios of mean coverage to the random and RND methods with a 95% percentile
  bootstrap interval (seeds resampled), and Welch's t-test p-value;
- the suite's goals (issue figures) as measured, met or not.

It prints one JSON object (``--out PATH`` also writes it) and draws coverage
against env steps for every method with 95% bands (``--figure``, default: the
JSON path with ``.png``, else ``RUN_ROOT/coverage.png``).

    python benchmarks/exploration.py --suite maze-large --seeds 10 --out benchmarks/results/exploration_maze_large.json
    python benchmarks/exploration.py --suite deepsea --seeds 10 --out benchmarks/results/exploration_deepsea.json
    python benchmarks/exploration.py --methods maze-afe maze-random --random maze-random --seeds 2 --debug
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == _ROOT / "benchmarks":  # benchmarks/envs.py would shadow envs
    sys.path[0] = str(_ROOT)

from benchmarks.exploration_stats import intervals_overlap, mean_ci, ratio_ci, t_band, welch_p  # noqa: E402
from benchmarks.report import emit, machine, refuse_link  # noqa: E402

SUITES: dict[str, dict[str, Any]] = {
    "maze-large": {"methods": ["maze-large-afe", "maze-large-rnd", "maze-large-count", "maze-large-ppo",
                               "maze-large-random"],
                   "random": "maze-large-random", "rnd": "maze-large-rnd", "focus": "maze-large-afe"},
    "deepsea": {"methods": ["deepsea-afe", "deepsea-rnd", "deepsea-random"],
                "random": "deepsea-random", "rnd": "deepsea-rnd", "focus": "deepsea-afe"},
    # The noisy-TV contrast: the share of steps spent at the TV (the env's tv_fraction).
    "noisytv": {"methods": ["noisytv-amortised-total", "noisytv-amortised-epistemic", "noisytv-random"],
                "random": "noisytv-random", "focus": "noisytv-amortised-total", "metrics": ["tv_fraction"]},
    # Rare-state biasing (umbrella windows + restarts) on top of the amortised agent.
    "rare-states": {"methods": ["maze-large-umbrella-afe", "maze-large-afe", "maze-large-rnd", "maze-large-random"],
                    "random": "maze-large-random", "rnd": "maze-large-rnd", "focus": "maze-large-umbrella-afe",
                    "metrics": ["umbrella_restarts", "umbrella_weight_ess_fraction"]},
}
FIGURES = ("coverage", "mean_env_coverage", "wall_seconds", "env_steps_per_second", "env_steps")
CORNER_KEYS = ("corner_reached", "first_corner_episode")


# ------------------------------------------------------------------ running
def _cli(args: list[str], threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": str(threads), "MPLBACKEND": "Agg", "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=_ROOT, env=env,
                          capture_output=True, text=True)


def _in_process(preset: str, seed: int, run_dir: Path, overrides: list[str], debug: bool, threads: int) -> dict:
    """The same run in this process (no interpreter start-up: for tests and tiny budgets)."""
    from experiments.config.presets import resolve
    from experiments.runner import resume_experiment, run_experiment

    try:
        if (run_dir / "checkpoint.pt").exists():
            resume_experiment(run_dir, quiet=True)
        else:
            cfg = resolve(preset, [*overrides, f"run.seed={seed}", "run.seeds=[]", "logging.wandb=disabled",
                                   "logging.quiet=true", f"run.threads={threads}"], debug=debug)
            run_experiment(cfg, out=run_dir, quiet=True, overwrite=True)
    except Exception as err:  # one failed run must not stop the protocol
        return {"status": "failed", "error": f"{type(err).__name__}: {err}".splitlines()[0]}
    return {"status": "ran"}


def run_one(preset: str, seed: int, run_dir: Path, overrides: list[str], debug: bool, threads: int,
            in_process: bool = False) -> dict:
    """One (method, seed): skipped when complete, resumed from a checkpoint, else (re)started."""
    if (run_dir / "summary.json").exists():
        return {"status": "done before"}
    if in_process:
        return _in_process(preset, seed, run_dir, overrides, debug, threads)
    if (run_dir / "checkpoint.pt").exists():
        proc = _cli(["resume", str(run_dir), "--quiet"], threads)
    else:
        args = ["run", preset, *overrides, f"run.seed={seed}", "run.seeds=[]", "logging.wandb=disabled",
                f"run.threads={threads}", "--out", str(run_dir), "--quiet", "--overwrite"]
        proc = _cli(args + (["--debug"] if debug else []), threads)
    if proc.returncode != 0 or not (run_dir / "summary.json").exists():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"status": "failed", "error": lines[-1] if lines else f"exit code {proc.returncode}"}
    return {"status": "ran"}


def run_all(methods: list[str], seeds: list[int], root: Path, overrides: list[str], debug: bool,
            threads: int, jobs: int) -> dict[tuple[str, int], dict]:
    """Every (method, seed), ``jobs`` subprocesses at a time (``jobs=0``: one by one in this
    process); seeds outer, so partial results stay balanced across methods."""
    tasks = [(m, s) for s in seeds for m in methods]

    def go(task: tuple[str, int]) -> dict:
        m, s = task
        t0 = time.perf_counter()
        out = run_one(m, s, root / m / f"seed_{s}", overrides, debug, threads, in_process=jobs == 0)
        print(f"[exploration] {m} seed {s}: {out['status']} ({time.perf_counter() - t0:.0f} s)"
              + (f": {out['error']}" if "error" in out else ""), file=sys.stderr, flush=True)
        return out

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip(tasks, pool.map(go, tasks)))


# ------------------------------------------------------------------ reading
def _pick(summary: dict, name: str) -> Any:
    """``summary[name]``, or a key ending in ``/name`` / ``.name``, or ``name`` one level down."""
    if name in summary:
        return summary[name]
    for key, value in summary.items():
        if str(key).rsplit("/", 1)[-1].rsplit(".", 1)[-1] == name:
            return value
    for value in summary.values():
        if isinstance(value, dict) and name in value and not isinstance(value[name], dict):
            return value[name]
    return None


def read_run(run_dir: Path, metrics: Sequence[str] = ()) -> dict | None:
    """Figures and the coverage curve (env steps, coverage) of one finished run."""
    path = run_dir / "summary.json"
    if not path.exists():
        return None
    import yaml

    summary = json.loads(path.read_text())
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    num_envs = int(((cfg or {}).get("env") or {}).get("num_envs", 1))
    steps, cov, per_copy = [0.0], [0.0], [0.0]
    mpath = run_dir / "metrics.jsonl"
    for line in mpath.read_text().splitlines() if mpath.exists() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
        if row.get("explore/coverage") is not None and "step" in row:
            steps.append(float(row["step"]) * num_envs)
            cov.append(float(row["explore/coverage"]))
            per_copy.append(float(row.get("explore/mean_env_coverage") or 0.0))
    rec = {k: _pick(summary, k) for k in (*FIGURES, *CORNER_KEYS, *metrics)}
    rec["curve"], rec["curve_per_copy"] = (steps, cov), (steps, per_copy)
    rec["num_envs"], rec["steps"] = num_envs, ((cfg or {}).get("run") or {}).get("steps")
    return rec


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN -> None


# ------------------------------------------------------------------ statistics
def method_report(records: list[dict], metrics: Sequence[str] = ()) -> dict:
    """Per-method figures over its finished seeds (``metrics``: extra summary keys, e.g. tv_fraction)."""
    out: dict[str, Any] = {k: mean_ci([_float(r.get(k)) for r in records]) for k in (*FIGURES, *metrics)}
    out["seeds_done"] = len(records)
    if records and records[0].get("num_envs"):
        out["budget"] = {"num_envs": records[0]["num_envs"], "steps_per_copy": records[0]["steps"]}
    corners = [_float(r["corner_reached"]) for r in records]
    if any(c is not None for c in corners):
        firsts = [_float(r["first_corner_episode"]) for r in records]
        reached = [f for c, f in zip(corners, firsts) if c and f is not None]
        out["corner"] = {"seeds_reached": int(sum(1 for c in corners if c)), "share_reached": mean_ci(corners)["mean"],
                         "first_episode_per_seed": firsts,
                         "first_episode_median": float(sorted(reached)[len(reached) // 2]) if reached else None}
    return out


def compare(a: list[dict], b: list[dict], key: str = "coverage") -> dict:
    x, y = [_float(r[key]) for r in a], [_float(r[key]) for r in b]
    return {**ratio_ci(x, y), "welch_p": welch_p(x, y),
            "intervals_overlap": intervals_overlap(mean_ci(x), mean_ci(y))}


def goals(suite: str | None, rep: dict, recs: dict[str, list[dict]], roles: dict[str, str | None]) -> dict:
    """The issue's goals for a suite, as measured."""
    focus, rnd, rand = roles.get("focus"), roles.get("rnd"), roles.get("random")
    if suite in ("maze-large", "rare-states") and focus in rep and rnd in rep and rand in rep:
        vs_rand, vs_rnd = compare(recs[focus], recs[rand]), compare(recs[focus], recs[rnd])
        two_x = vs_rand["ratio"] is not None and vs_rand["ratio"] >= 2
        beats = (rep[focus]["coverage"]["mean"] or 0) >= (rep[rnd]["coverage"]["mean"] or 0)
        apart = vs_rand["intervals_overlap"] is False and vs_rnd["intervals_overlap"] is False
        return {"text": "coverage >= 2x random and >= RND, the intervals not overlapping",
                "ratio_to_random": vs_rand["ratio"], "ratio_to_rnd": vs_rnd["ratio"],
                "met": bool(two_x and beats and apart)}
    if suite == "deepsea" and focus in rep and rand in rep:
        got = rep[focus].get("corner", {}).get("seeds_reached")
        rnd_got = rep[rand].get("corner", {}).get("seeds_reached")
        n = rep[focus]["seeds_done"]
        return {"text": "adversarial agent reaches the far corner in >= 8 of 10 seeds; random in none",
                "focus_seeds_reached": got, "random_seeds_reached": rnd_got, "seeds": n,
                "met": bool(got is not None and n >= 10 and got >= 0.8 * n and rnd_got == 0)}
    if suite == "noisytv" and "noisytv-amortised-epistemic" in rep and focus in rep:
        total = rep[focus]["tv_fraction"]["mean"]
        epistemic = rep["noisytv-amortised-epistemic"]["tv_fraction"]["mean"]
        return {"text": "total-surprise TV share >= 0.3, epistemic <= 0.05", "total_tv_share": total,
                "epistemic_tv_share": epistemic,
                "met": bool(total is not None and epistemic is not None and total >= 0.3 and epistemic <= 0.05)}
    return {}


# ------------------------------------------------------------------ output
def _bands(ax: Any, curves: dict[str, list[tuple[list, list]]]) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    colours = plt.get_cmap("tab20").colors  # distinct for up to 20 methods (the default cycle repeats after 10)
    for i, (name, runs) in enumerate(curves.items()):
        if not runs:
            continue
        end = min(max(s) for s, _ in runs)
        grid = np.linspace(0.0, end, 200)
        ys = np.stack([np.interp(grid, s, c) for s, c in runs])
        mean, lo, hi = t_band(ys)
        style = "--" if "restarts" in name else "-"  # with restarts: dashed
        (line,) = ax.plot(grid, mean, style, color=colours[(2 * i) % 20 + (i // 10) % 2],  # dark shades first
                          label=f"{name} (n={len(runs)})")
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.12, linewidth=0)
    ax.set_xlabel("env steps (all copies)")
    ax.set_ylim(bottom=0)


def draw(recs: dict[str, list[dict]], path: Path, title: str) -> None:
    """Union and per-copy coverage against env steps: mean and 95% band over seeds per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (union, copy) = plt.subplots(1, 2, figsize=(12, 4.5))
    _bands(union, {m: [r["curve"] for r in rs] for m, rs in recs.items()})
    _bands(copy, {m: [r["curve_per_copy"] for r in rs] for m, rs in recs.items()})
    union.set_ylabel("coverage of reachable cells (union of copies)")
    copy.set_ylabel("coverage per copy (mean over copies)")
    union.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(refuse_link(path), dpi=110)
    plt.close(fig)


def table(rep: dict, comps: dict, metrics: Sequence[str] = ()) -> list[dict]:
    """One row per method: the figures a README table shows (and each extra metric's mean and interval)."""
    rows = []
    for m, r in rep.items():
        c = comps.get(m, {})
        row = {"method": m, "seeds": r["seeds_done"], "coverage": r["coverage"]["mean"],
               "coverage_ci": r["coverage"]["ci"], "mean_env_coverage": r["mean_env_coverage"]["mean"],
               "ratio_to_random": c.get("vs_random", {}).get("ratio"),
               "ratio_to_random_ci": c.get("vs_random", {}).get("ci"),
               "ratio_to_rnd": c.get("vs_rnd", {}).get("ratio"), "ratio_to_rnd_ci": c.get("vs_rnd", {}).get("ci"),
               "welch_p_vs_random": c.get("vs_random", {}).get("welch_p"),
               "welch_p_vs_rnd": c.get("vs_rnd", {}).get("welch_p"),
               "wall_seconds": r["wall_seconds"]["mean"], "env_steps_per_second": r["env_steps_per_second"]["mean"]}
        if "corner" in r:
            row.update(corner_seeds=r["corner"]["seeds_reached"], first_corner_episode=r["corner"]["first_episode_median"])
        for k in metrics:
            row.update({k: r[k]["mean"], f"{k}_ci": r[k]["ci"]})
        rows.append(row)
    return rows


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=sorted(SUITES), help="predefined methods, reference methods and goals")
    p.add_argument("--methods", nargs="+", help="presets to compare (default: the suite's)")
    p.add_argument("--random", help="preset that is the random reference (default: the suite's)")
    p.add_argument("--rnd", help="preset that is the RND reference (default: the suite's)")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per method (>= 10 for the protocol)")
    p.add_argument("--run-root", help="where runs live (default runs/exploration/<suite or 'custom'>)")
    p.add_argument("--debug", action="store_true", help="the presets' debug sizes (tests)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time (0: one by one in this process)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--figure", help="coverage figure (default: --out with .png, else RUN_ROOT/coverage.png)")
    p.add_argument("--metrics", nargs="*", help="extra summary.json keys to report per method (default: the suite's)")
    p.add_argument("--no-run", action="store_true", help="only read the runs that exist")
    p.add_argument("--note", default="", help="a remark stored in settings (e.g. how the runs were made)")
    args = p.parse_args(argv)
    suite = SUITES.get(args.suite or "", {})
    args.methods = args.methods or suite.get("methods")
    if not args.methods:
        p.error("give --suite or --methods")
    args.random = args.random or suite.get("random")
    args.rnd = args.rnd or suite.get("rnd")
    args.focus = suite.get("focus")
    args.metrics = suite.get("metrics", []) if args.metrics is None else args.metrics
    if args.seeds < 1:
        p.error(f"--seeds={args.seeds} is invalid: expected an integer >= 1 (10 or more for the protocol)")
    return args


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it (the JSON is committed; no machine paths)."""
    try:
        return str(path.resolve().relative_to(_ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    root = Path(args.run_root or Path("runs") / "exploration" / (args.suite or "custom")).resolve()
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    statuses = {} if args.no_run else run_all(args.methods, seeds, root, args.set, args.debug, args.threads, args.jobs)
    recs = {m: [r for s in seeds if (r := read_run(root / m / f"seed_{s}", args.metrics)) is not None]
            for m in args.methods}
    rep = {m: method_report(recs[m], args.metrics) for m in args.methods}
    comps: dict[str, dict] = {}
    for m in args.methods:
        comps[m] = {f"vs_{k}": compare(recs[m], recs[ref]) for k, ref in (("random", args.random), ("rnd", args.rnd))
                    if ref in recs and ref != m and recs[ref]}
    fig_path = Path(args.figure) if args.figure else (Path(args.out).with_suffix(".png") if args.out
                                                       else root / "coverage.png")
    draw(recs, fig_path,
         f"{args.suite or 'exploration'}: coverage over {len(seeds)} seeds (mean, 95% band)")
    failed = {f"{m}/seed_{s}": st["error"] for (m, s), st in statuses.items() if st["status"] == "failed"}
    out = {"benchmark": "exploration",
           "figure": "coverage of reachable cells (union and per copy) per method over seeds; ratios to random / RND",
           "unit": "share of reachable cells; ratio of means with 95% bootstrap CI; Welch p; seconds; env-steps/s",
           "settings": {"suite": args.suite, "methods": args.methods, "seeds": seeds, "random": args.random,
                        "rnd": args.rnd, "debug": args.debug, "overrides": args.set, "run_root": _shown(root),
                        "metrics": args.metrics,
                        "jobs": args.jobs, "threads": args.threads, "note": args.note,
                        "command": "python benchmarks/exploration.py " + " ".join(argv if argv is not None
                                                                               else sys.argv[1:])},
           "machine": machine(),
           "results": {"methods": rep, "comparisons": comps, "table": table(rep, comps, args.metrics),
                       "goals": goals(args.suite, rep, recs, {"focus": args.focus, "rnd": args.rnd,
                                                              "random": args.random}),
                       "failed_runs": failed, "figure_path": _shown(fig_path),
                       "protocol_wall_seconds": time.perf_counter() - t0}}
    emit(out, args.out)
    return out


if __name__ == "__main__":
    main()
