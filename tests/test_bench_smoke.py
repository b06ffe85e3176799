"""The benchmark harness in miniature (2 calls, 10 s): it must produce every figure. Values are not judged
here; timing belongs to `make bench`, not to tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

pytestmark = pytest.mark.bench


def test_the_smoke_benchmark_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke" and results["machine"]["cores"] >= 1
    paths = results["media_paths"]["variants"]  # aiortc's packet path against the lean one, side by side
    assert {"aiortc/asyncio", "lean/asyncio"} <= set(paths)
    for found in paths.values():
        assert found["per_call_ms_s"]["2"] > 0 and found["on_time"]["2"] is not None and found["forwarded_untouched"]
    for system in ("callbridge", "baseline"):
        figures = results[system]
        latency = figures["latency"]["loss_0pct"]["latency_ms"]
        for direction in ("whatsapp_to_browser", "browser_to_whatsapp"):
            assert latency[direction]["markers"] > 0 and latency[direction]["p50"] is not None
        assert figures["steps"] and figures["steps"][0]["on_time"] is not None
        for key in (
            "capacity",
            "cpu_ms_per_call_s",
            "rss_mb_per_call",
            "rss_growth_after_calls_mb",
            "recording_cost_ms_per_call_s",
            "playback_cost_ms_per_call_s",
        ):
            assert isinstance(figures[key], int | float), key
    rows = {row["measure"]: row for row in results["summary"]}
    assert any(m.startswith("one-way latency") for m in rows)
    assert all(row["callbridge"] is not None for row in rows.values())
    table = out.with_suffix(".md").read_text()
    assert "| Measure | Target | callbridge | naive aiortc bridge |" in table
