"""The README's code blocks that claim to run do run, as written."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_sb3_bonus_snippet_runs_and_learns_with_the_bonus(capsys):
    code = _block_after("### The surprise bonus with stable-baselines3")
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # the README's own text, not user input
    venv = namespace["venv"]
    assert venv.transform.last_surprise is not None and float(venv.transform.last_surprise.mean()) > 0
    assert "mean surprise of the last batch" in capsys.readouterr().out
