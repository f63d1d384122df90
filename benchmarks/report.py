"""What a benchmark's JSON says about the machine, and how the JSON leaves: stdout, and ``--out``.

Every benchmark prints one JSON object (``benchmark``, ``figure``, ``unit``, ``settings``,
``machine``, ``results``); given ``--out PATH`` it also writes it there, the file the README's
tables are made from.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine(**extra: Any) -> dict:
    """The machine a figure was measured on; the load average says how busy it was."""
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average": list(os.getloadavg()), **extra}


def refuse_link(path: str | Path) -> Path:
    """``path`` as a Path, unless it is a symbolic link: a benchmark never writes through one."""
    path = Path(path)
    if path.is_symlink():
        raise SystemExit(f"{str(path)!r} is a symbolic link; benchmarks write only plain files (pick another --out)")
    return path


def write(result: dict, out: str | Path | None) -> None:
    """``result`` as JSON in ``out`` (nothing without one); called again as partial results grow.

    Written to a temp file beside it, then renamed over it: a reader never sees half a file,
    and the rename replaces ``out`` itself, never a file a link points to.
    """
    if out:
        out = refuse_link(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        from experiments.io.run_folder import temp_name, write_new

        tmp = temp_name(out)
        write_new(tmp, (json.dumps(result, indent=1, default=float) + "\n").encode())
        os.replace(tmp, out)


def emit(result: dict, out: str | Path | None = None) -> None:
    """Print ``result`` (the benchmark's one JSON object) and write it to ``out``."""
    print(json.dumps(result, indent=1, default=float))
    write(result, out)
