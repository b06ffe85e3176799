"""Code run at start-up in one child process of the bench alone (a gateway or the emulator): a ``sitecustomize``
in a directory of its own, first on that process's ``PYTHONPATH`` (with the repository, so it can import
``bench``). bench/floor.py, bench/marker_leg.py and bench/spans.py change or time a process this way."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def site_environment(workdir: Path, name: str, code: str) -> dict[str, str]:
    """The environment additions that make a child run ``code`` first (written to ``workdir/name``)."""
    site = workdir / name
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(code)
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
