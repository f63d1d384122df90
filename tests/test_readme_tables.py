"""The README's measured tables are what scripts/readme_tables.py makes of the committed results."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "scripts" / "readme_tables.py")
rt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)


def test_readme_and_docs_blocks_match_the_committed_results():
    for page in rt.pages():
        text = page.read_text(encoding="utf-8")
        new, missing = rt.rewrite(text, ROOT / "benchmarks" / "results")
        stale = [m.group("name") for m in rt.BLOCK.finditer(text) if m.group(0) not in new]
        assert not stale and not missing, f"{page.name}: tables out of date {stale} or without results {missing}; " \
                                          f"run python scripts/readme_tables.py"
    assert rt.BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8")), "the README shows no generated table"


def test_the_readme_is_short_and_holds_no_figure_typed_by_hand():
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 350
    prose = re.sub(r"```.*?```", "", rt.BLOCK.sub("", text), flags=re.S)  # generated tables and code aside
    typed = re.findall(r"\d+\.\d+|\d+(?:\.\d+)?\s?%", prose)
    assert not typed, f"figures in the README's prose must come from a generated table: {typed}"


def test_blocks_are_rewritten_and_files_without_blocks_tolerated(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "speed.json").write_text(json.dumps({
        "benchmark": "speed", "figure": "env steps per second", "unit": "steps/s",
        "results": {"maze": {"steps": 1234.5678, "coverage": {"mean": 0.5, "std": 0.01}, "runs": [1, 2, 3],
                             "ci": [0.45, 0.55]},
                    "darkroom": {"steps": 99, "coverage": {"mean": 0.25, "std": 0.02}}}}))
    (results / "unquoted.json").write_text(json.dumps({"results": {"a": 1}}))  # no block yet: fine
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- table:speed -->\nold figure 1.0\n<!-- /table:speed -->\n"
                      "<!-- table:later transpose -->\nkept\n<!-- /table:later -->\nend\n")
    assert rt.main(["--readme", str(readme), "--results", str(results), "--check"]) == 1
    assert rt.main(["--readme", str(readme), "--results", str(results)]) == 0
    text = readme.read_text()
    assert "| maze | 1235 | 0.5 ± 0.01 | [0.45, 0.55] |" in text and "| darkroom | 99 | 0.25 ± 0.02 |  |" in text
    assert "old figure" not in text and "kept" in text and text.endswith("end\n")
    assert "runs" not in text  # lists are left out, except [low, high] intervals
    assert rt.main(["--readme", str(readme), "--results", str(results), "--check"]) == 0


def test_transpose_key_and_columns():
    data = {"results": {"by": {"speed": {"1": 10.0, "2": 19.0}, "eff": {"1": 1.0, "2": 0.95}}}}
    text = rt.render(data, "ddp", {"transpose": "", "key": "by", "columns": "speed"})
    assert "|  | speed |" in text and "| 1 | 10 |" in text and "| 2 | 19 |" in text and "eff" not in text
