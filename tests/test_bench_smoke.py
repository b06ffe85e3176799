"""The benchmark harnesses in miniature (2 calls, a few seconds): they must produce every figure. Values are not judged
here; timing belongs to `make bench`, not to tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import POSTGRES_URL

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
    floor = paths["floor/asyncio"]
    assert floor["floor_forwarded"]["2"] > 200  # the floor forwarded bare, not the lean path
    assert floor["on_time"]["2"] > 0.5  # and the peers took what it sent (a numbering it broke fails SRTP there)
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


@pytest.mark.store
@pytest.mark.skipif(not POSTGRES_URL, reason="several nodes need PostgreSQL (CALLBRIDGE_TEST_DATABASE_URL)")
def test_the_cluster_smoke_benchmark_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--smoke", "--out", str(out), "--database-url", str(POSTGRES_URL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke" and len(results["nodes"]) == 2
    for system in ("single", "workers"):
        assert results[system]["steps"] and results[system]["steps"][0]["on_time"] is not None
        assert isinstance(results[system]["cpu_ms_per_call_s"], int | float)
    # Both workers' CPU is measured, and each call of the box is counted on the worker that owns it.
    step = results["workers"]["steps"][0]
    assert {f"gateway1w{i}" for i in range(2)} <= set(step["cpu_ms_per_s"])
    assert sum(step["calls_by_worker"].values()) == step["calls"]
    forwarding = results["forwarding"]
    for path in ("/call/status", "/call/stats"):
        assert forwarding[path]["owner_ms"]["p50"] is not None and forwarding[path]["forwarded_ms"]["p99"] is not None
    assert forwarding["/call/events"]["first_byte_forwarded_ms"]["n"] > 0
    table = out.with_suffix(".md").read_text()
    assert "| Measure | `serve --workers 2` | one process | ratio |" in table
