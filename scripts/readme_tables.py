"""Rewrite the measured tables of the README and the docs pages from the committed benchmark results.

A block in ``README.md`` or ``docs/*.md``

    <!-- table:NAME [transpose] [key=a.b] [columns=c1,c2] [digits=4] -->
    ...generated, do not edit...
    <!-- /table:NAME -->

is filled from ``benchmarks/results/NAME.json`` (the JSON a benchmark prints:
``benchmark``, ``figure``, ``unit``, ``settings``, ``machine``, ``results``).
The table shows ``results`` (or ``results.a.b`` with ``key=a.b``):

- a list of mappings: one row per mapping;
- a mapping of mappings: one row per outer key (``transpose``: one row per inner key);
- a mapping of numbers: one ``name | value`` row each.

Cells of ``{"mean", "std"}`` read ``mean ± std``; lists and deeper mappings are left out.
Results files without a block are left alone (a block can be added later).

    python scripts/readme_tables.py           # rewrite README.md and docs/*.md in place
    python scripts/readme_tables.py --check   # exit 1 if a block differs from the results
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- table:(?P<name>[\w.-]+)(?P<opts>[^>]*?)\s*-->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)",
                   re.S)


def fmt(v: Any, digits: int) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, dict) and "mean" in v and "std" in v:
        return f"{fmt(v['mean'], digits)} ± {fmt(v['std'], 2)}"
    if isinstance(v, dict) and {"mean", "min", "max"} <= set(v):
        return f"{fmt(v['mean'], digits)} ({fmt(v['min'], digits)}-{fmt(v['max'], digits)})"
    if _interval(v):
        return f"[{fmt(v[0], digits)}, {fmt(v[1], digits)}]"
    return str(v)


def _interval(v: Any) -> bool:
    """A ``[low, high]`` pair of numbers (a confidence interval)."""
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)


def _cell_ok(v: Any) -> bool:
    if isinstance(v, dict):
        return ("mean" in v and "std" in v) or {"mean", "min", "max"} <= set(v)
    return not isinstance(v, list) or _interval(v)


def rows_of(results: Any, transpose: bool) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of a results object (see the module doc)."""
    if isinstance(results, list):
        cols = list(dict.fromkeys(k for r in results if isinstance(r, dict) for k, v in r.items() if _cell_ok(v)))
        return cols, [[r.get(c) for c in cols] for r in results if isinstance(r, dict)]
    if not isinstance(results, dict):
        return ["value"], [[results]]
    nested = {k: v for k, v in results.items() if isinstance(v, dict) and not _cell_ok(v)}
    if not nested:
        return ["name", "value"], [[k, v] for k, v in results.items() if _cell_ok(v)]
    if transpose:
        inner = list(dict.fromkeys(k for v in nested.values() for k in v))
        cols = [c for c in nested if all(_cell_ok(nested[c].get(i)) for i in inner)]
        return ["", *cols], [[i, *(nested[c].get(i) for c in cols)] for i in inner]
    cols = list(dict.fromkeys(k for v in nested.values() for k, x in v.items() if _cell_ok(x)))
    return ["", *cols], [[name, *(v.get(c) for c in cols)] for name, v in nested.items()]


def render(data: dict, name: str, opts: dict[str, str]) -> str:
    """The Markdown of one block (table plus a source line), from a results file's JSON."""
    results: Any = data.get("results", {})
    for part in filter(None, opts.get("key", "").split(".")):
        results = results.get(part, {}) if isinstance(results, dict) else {}
    header, rows = rows_of(results, "transpose" in opts)
    if opts.get("columns"):
        label = [0] if header and header[0] == "" else []  # the row-name column of a mapping's table
        keep = label + [header.index(c) for c in opts["columns"].split(",") if c in header]
        header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    digits = int(opts.get("digits", 4))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v, digits) for v in r) + " |" for r in rows]
    what = ", ".join(x for x in (data.get("figure"), data.get("unit")) if x)
    lines.append("")
    lines.append(f"*{what + '; ' if what else ''}from `benchmarks/results/{name}.json`*")
    return "\n".join(lines) + "\n"


def parse_opts(text: str) -> dict[str, str]:
    out = {}
    for tok in text.split():
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def rewrite(readme: str, results_dir: Path) -> tuple[str, list[str]]:
    """(new README text, names of blocks whose results file is missing)."""
    missing: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group("name")
        path = results_dir / f"{name}.json"
        if not path.is_file():
            missing.append(name)
            return m.group(0)
        body = render(json.loads(path.read_text(encoding="utf-8")), name, parse_opts(m.group("opts")))
        return m.group(1) + body + m.group(5)

    return BLOCK.sub(fill, readme), missing


def pages() -> list[Path]:
    """The files whose blocks are generated: the README and every docs page."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", type=Path, action="append", default=None,
                   help="a Markdown file to rewrite (repeatable; default: README.md and docs/*.md)")
    p.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--check", action="store_true", help="exit 1 when a block differs from its results file")
    args = p.parse_args(argv)
    stale = 0
    for path in args.readme or pages():
        old = path.read_text(encoding="utf-8")
        new, missing = rewrite(old, args.results)
        for name in missing:
            print(f"readme_tables: no benchmarks/results/{name}.json for the block table:{name} in {path}",
                  file=sys.stderr)
        if args.check:
            if new != old:
                names = [m.group("name") for m in BLOCK.finditer(old) if m.group(0) not in new]
                print(f"readme_tables: blocks out of date in {path}: {', '.join(names)}; run python "
                      f"scripts/readme_tables.py", file=sys.stderr)
                stale += 1
        elif new != old:
            path.write_text(new, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
