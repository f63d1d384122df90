"""Each preset at debug size, seed 0, CPU reproduces its stored summary (timing keys aside).

The store is written by ``python tests/preset_snapshots.py --write``; a change to it in a
commit is a change users will see, and the commit should say why.
"""
from __future__ import annotations

import json
import math

import pytest

from preset_snapshots import STORE, preset_names, preset_summary

STORED = json.loads(STORE.read_text())


def _close(a, b, path: str = "") -> list[str]:
    """Paths at which ``a`` and ``b`` differ (floats to a relative 1e-4)."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [d for k in sorted(keys, key=str) for d in (
            [f"{path}.{k}: missing on one side"] if (k in a) != (k in b) else _close(a[k], b[k], f"{path}.{k}"))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _close(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        same = math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b))
        return [] if same else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_every_preset_has_a_stored_summary():
    assert sorted(STORED) == sorted(preset_names())


@pytest.mark.parametrize("name", sorted(STORED))
def test_preset_summary_matches_the_stored_one(name, tmp_path):
    if name.startswith("minigrid"):
        pytest.importorskip("minigrid")  # an optional extra
    diffs = _close(preset_summary(name, tmp_path), STORED[name])
    assert not diffs, f"{name} changed: {diffs[:5]}"
