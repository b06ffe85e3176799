"""The lean path's two measuring tools keep working: the hot loop runs packets through real legs (each one must
come out the other side), and the in-place timing's arithmetic splits a packet's time as its table says."""

from __future__ import annotations

import pytest

from bench.lean_hot import measure
from bench.spans import _figures, markdown


async def test_the_hot_loop_forwards_every_packet_and_times_it() -> None:
    assert 0 < await measure(calls=2, packets=400) < 10_000


def test_the_in_place_split_adds_up() -> None:
    totals = {"receive": [0.0, 0], "unprotect": [0.0, 0], "protect": [0.0, 0], "sendto": [0.0, 0], "inbound": [0.0, 0]}
    before = {"totals": totals, "cpu": 10.0}
    after = {
        "totals": {
            "receive": [0.5, 10_000],  # 50 us per packet in our receive call
            "unprotect": [0.05, 10_000],
            "protect": [0.06, 10_000],
            "sendto": [0.12, 10_000],
            "inbound": [0.3, 10_000],
        },
        "cpu": 10.8,  # 80 us per packet in all
    }
    found = _figures(before, after, seconds=2.0, calls=25, loop="asyncio", cores=None)
    split = found["us_per_packet"]
    assert split["all (process CPU)"] == pytest.approx(80.0)
    assert split["srtp (unprotect + protect)"] == pytest.approx(11.0)
    assert split["our python (the rest of the call)"] == pytest.approx(50.0 - 11.0 - 12.0)
    assert split["  of it reading (demux, header, reception statistics)"] == pytest.approx(50.0 - 30.0 - 5.0)
    assert split["  of it forwarding (jitter buffer, router, timeline, write)"] == pytest.approx(30.0 - 6.0 - 12.0)
    assert split["outside our code (loop, socket reads, timers)"] == pytest.approx(30.0)
    assert found["cpu_ms_per_call_s"] == pytest.approx(800 / 2 / 25)
    assert "| asyncio | 25 |" in markdown([found])
