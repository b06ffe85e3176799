"""A one-minute soak: calls placed, bridged to a browser peer, played into and recorded, in cycles; what the
gateway holds (memory, open files, tasks, peer connections) must not grow once warmed up. ``make soak`` is the
30-minute version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakPlan, run_soak


@pytest.mark.bench
def test_a_minute_of_call_cycles_leaves_nothing_behind(tmp_path: Path) -> None:
    # A minute does not get past the memory warm-up (bench/soak.py), so memory gets a wider allowance than in
    # `make soak`; leaked handles, tasks and peer connections are caught all the same.
    plan = SoakPlan(minutes=1.0, calls=3, cycle_seconds=6, sample_every=10, warmup_minutes=0.25, rss_allowance_mb=30)
    result = run_soak(plan, tmp_path)
    assert result.cycles >= 3, result
    assert result.passed, (result.failures, result.idle)
    assert all(point["peerConnections"] == 0 and point["calls"] == 0 for point in result.idle)
    assert len(result.samples) >= 5 and all(s["rssMb"] and s["openFiles"] for s in result.samples)
