"""The documentation site builds without a warning (``mkdocs build --strict``); skipped without mkdocs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "results" / "index.html").exists()


def test_every_docs_page_is_in_the_site_navigation():
    yaml = pytest.importorskip("yaml")
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    listed = {page for item in nav for page in item.values()}
    assert listed == {p.name for p in (ROOT / "docs").glob("*.md")}
