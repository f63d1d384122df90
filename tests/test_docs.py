"""The architecture page stays true: every project file it names exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("freeenergy/", "envs/", "agents/", "experiments/", "tests/", "benchmarks/", "scripts/", "docs/")


def named_paths(text: str) -> set[str]:
    """Backquoted project paths (``pkg/.../file.py`` or ``.md``/``.yaml``) a page names."""
    found = set()
    for token in re.findall(r"`([^`\s]+)`", text):
        path = token.split(":")[0].rstrip(",.")
        if path.startswith(PACKAGES) and path.endswith((".py", ".md", ".yaml")) and "<" not in path:
            found.add(path)
    return found


def test_every_file_the_architecture_page_names_exists():
    names = named_paths(PAGE.read_text())
    assert len(names) >= 20, sorted(names)
    missing = sorted(p for p in names if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_path_finder_sees_a_missing_file():
    assert named_paths("see `agents/nope.py` and `envs/base.py:12`") == {"agents/nope.py", "envs/base.py"}
