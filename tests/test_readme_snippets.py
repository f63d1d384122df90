"""The code blocks of the README and the docs pages that claim to run do run, as written."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _block_after(heading: str) -> tuple[str, Path]:
    """The first Python block after ``heading`` on whichever page holds it."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if heading in text:
            section = text[text.index(heading):]
            return re.search(r"```python\n(.*?)```", section, re.S).group(1), page
    raise AssertionError(f"no page holds the heading {heading!r}")


def test_sb3_bonus_snippet_runs_and_learns_with_the_bonus(capsys):
    code, page = _block_after("## The surprise bonus with stable-baselines3")
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(code, str(page), "exec"), namespace)  # the docs' own text, not user input
    venv = namespace["venv"]
    assert venv.transform.last_surprise is not None and float(venv.transform.last_surprise.mean()) > 0
    assert "mean surprise of the last batch" in capsys.readouterr().out


def test_the_readme_plug_in_snippet_runs(tmp_path, monkeypatch):
    code, page = _block_after("## Plug in your own environment")
    code = code.replace('env = envs.make("my_pkg.worlds:Labyrinth", num_envs=16, size=9)', "")
    namespace: dict = {}
    exec(compile(code, str(page), "exec"), namespace)
    assert tuple(namespace["obs"].shape) == (16, 2)
