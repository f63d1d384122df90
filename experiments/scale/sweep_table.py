"""The table of a finished sweep: per configuration, mean, std and 95% interval over seeds.

Written as ``results.md``, ``results.csv`` and ``results.json`` in the sweep
folder, with ``results_<metric>.png``: the metric against the first swept
parameter (one line per value of the others), error bars = 95% intervals.
The interval is Student's t: ``mean +- t(0.975, n-1) * std / sqrt(n)``, with
``std`` the sample standard deviation (ddof=1) over the configuration's seeds.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from experiments.context import atomic_write_bytes
from experiments.scale.sweep_spec import SEED_KEY, SweepSpec, Trial


def summary_value(summary: dict, key: str) -> float | None:
    """A numeric summary figure (the mean of an aggregated one), or None."""
    v = summary.get(key)
    if isinstance(v, dict):
        v = v.get("mean")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def interval(values: list[float]) -> dict[str, float | int | None]:
    """n, mean, std (ddof=1) and the 95% Student-t interval of ``values``."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95_low": None, "ci95_high": None}
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95_low": None, "ci95_high": None}
    from scipy import stats

    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half}


def build_table(spec: SweepSpec, trials: list[Trial], outcomes: dict[str, dict],
                metrics: list[str]) -> list[dict[str, Any]]:
    """One row per configuration: its parameters, trial counts and each metric's statistics.

    ``outcomes[tid]`` is ``{"status": ..., "summary": {...}}`` for every trial that ran.
    """
    groups: dict[tuple, list[Trial]] = {}
    for t in trials:
        groups.setdefault(t.group, []).append(t)
    rows = []
    for members in groups.values():
        params = {k: v for k, v in members[0].params.items() if k != SEED_KEY}
        done = [outcomes[t.tid] for t in members if outcomes.get(t.tid, {}).get("status") == "complete"]
        row: dict[str, Any] = {"params": params, "trials": len(members), "complete": len(done),
                               "failed": sum(outcomes.get(t.tid, {}).get("status") == "failed" for t in members),
                               "seeds": [t.params.get(SEED_KEY) for t in members
                                         if outcomes.get(t.tid, {}).get("status") == "complete"]}
        for m in metrics:
            vals = [v for o in done if (v := summary_value(o["summary"], m)) is not None]
            row[m] = interval(vals)
        rows.append(row)
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


#: What a table of a ``--debug`` sweep says first: its figures come from tiny runs.
DEBUG_CAVEAT = ("Debug sizes (--debug): every trial ran at its preset's tiny debug size, so these figures check "
                "the machinery and say nothing about the methods.")


def to_markdown(spec: SweepSpec, rows: list[dict], metrics: list[str], debug: bool = False) -> str:
    keys = list(rows[0]["params"]) if rows else []
    head = [*keys, "seeds done", "failed"] + [f"{m} (mean +- std [95% CI])" for m in metrics]
    lines = [f"# Sweep {spec.name}: preset {spec.preset}, metric {spec.metric} ({spec.goal})"
             + (" (debug sizes)" if debug else ""), "", *([f"> {DEBUG_CAVEAT}", ""] if debug else []),
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_fmt(r["params"][k]) for k in keys] + [f"{r['complete']}/{r['trials']}", str(r["failed"])]
        for m in metrics:
            s = r[m]
            if s["mean"] is None:
                cells.append("-")
            elif s["std"] is None:
                cells.append(_fmt(s["mean"]))
            else:
                cells.append(f"{s['mean']:.4g} +- {s['std']:.2g} [{s['ci95_low']:.4g}, {s['ci95_high']:.4g}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict], metrics: list[str]) -> str:
    keys = list(rows[0]["params"]) if rows else []
    stat_cols = [f"{m}_{s}" for m in metrics for s in ("n", "mean", "std", "ci95_low", "ci95_high")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*keys, "trials", "complete", "failed", *stat_cols])
    for r in rows:
        stats = [r[m][s] for m in metrics for s in ("n", "mean", "std", "ci95_low", "ci95_high")]
        w.writerow([r["params"][k] for k in keys] + [r["trials"], r["complete"], r["failed"]]
                   + ["" if v is None else v for v in stats])
    return buf.getvalue()


def plot_metric(spec: SweepSpec, rows: list[dict], metric: str) -> Any:
    """The metric (mean, 95% interval) against the first swept parameter; one series per other values."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    swept = spec.swept
    x_key = swept[0] if swept else None
    fig, ax = plt.subplots(figsize=(6, 4))
    series: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{k}={_fmt(r['params'][k])}" for k in swept[1:]) or metric
        series.setdefault(label, []).append(r)
    xs_all = [r["params"].get(x_key) for r in rows] if x_key else [spec.preset]
    numeric = x_key is not None and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs_all)
    cats = list(dict.fromkeys(map(str, xs_all)))
    for i, (label, members) in enumerate(series.items()):
        members = [r for r in members if r[metric]["mean"] is not None]
        if numeric:
            members.sort(key=lambda r: r["params"][x_key])
            xs = [r["params"][x_key] for r in members]
        else:
            off = (i - (len(series) - 1) / 2) * 0.08
            xs = [cats.index(str(r["params"].get(x_key, spec.preset))) + off for r in members]
        ys = [r[metric]["mean"] for r in members]
        err = [[y - (r[metric]["ci95_low"] if r[metric]["ci95_low"] is not None else y) for y, r in zip(ys, members)],
               [(r[metric]["ci95_high"] if r[metric]["ci95_high"] is not None else y) - y for y, r in zip(ys, members)]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, linestyle="-" if numeric else "none", label=label)
    if not numeric:
        ax.set_xticks(range(len(cats)), cats)
    ax.set_xlabel(x_key or "preset")
    ax.set_ylabel(f"{metric} (mean, 95% CI over seeds)")
    ax.set_title(f"sweep {spec.name}")
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_table(sweep_dir: Path, spec: SweepSpec, trials: list[Trial], outcomes: dict[str, dict],
                metrics: list[str], debug: bool = False) -> dict[str, Path]:
    """Write results.md/.csv/.json and one figure per metric; returns their paths.

    ``debug``: the trials ran at debug size; the table, the JSON and the figures say so.
    """
    import matplotlib.pyplot as plt

    rows = build_table(spec, trials, outcomes, metrics)
    paths = {"markdown": sweep_dir / "results.md", "csv": sweep_dir / "results.csv",
             "json": sweep_dir / "results.json"}
    atomic_write_bytes(paths["markdown"], to_markdown(spec, rows, metrics, debug).encode())
    atomic_write_bytes(paths["csv"], to_csv(rows, metrics).encode())
    data = {"sweep": spec.name, "preset": spec.preset, "method": spec.method, "metric": spec.metric,
            "goal": spec.goal, "metrics": metrics, "swept": spec.swept, "rows": rows,
            **({"debug_sizes": DEBUG_CAVEAT} if debug else {})}
    atomic_write_bytes(paths["json"], (json.dumps(data, indent=2) + "\n").encode())
    for m in metrics:
        fig = plot_metric(spec, rows, m)
        if debug:
            fig.axes[0].set_title(fig.axes[0].get_title() + " (debug sizes)")
        paths[f"figure:{m}"] = sweep_dir / f"results_{m.replace('/', '_')}.png"
        fig.savefig(paths[f"figure:{m}"], dpi=100)
        plt.close(fig)
    return paths
