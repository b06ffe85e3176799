"""GET /metrics against a real gateway and the emulator: who may read it, and what a real call leaves in it; the
quality summary an ended call keeps; the reservoir its jitter p95 comes from."""

from __future__ import annotations

import asyncio
import random
from asyncio import to_thread
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callbridge.media.quality import ArrivalJitter, Reservoir
from callbridge.media.rtp_transcode import G711Inbound
from callbridge.testing import Gateway
from tests.support.audio_files import write_tone
from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import Scene
from tests.test_media_bridge import active_call

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: Gateway) -> Samples:
    r = gateway.get("/metrics", admin=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def series(samples: Samples, name: str, **labels: str) -> list[float]:
    """The values of the series named so that carry these labels (and maybe others)."""
    wanted = set(labels.items())
    return [v for (n, ls), v in samples.items() if n == name and wanted <= ls]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of those series; there must be at least one."""
    found = series(samples, name, **labels)
    assert found, f"no {name} {labels} in the metrics"
    return sum(found)


def test_metrics_need_the_admin_token(gateway: Gateway) -> None:
    for headers in ({}, {"admintoken": "wrong"}):
        r = gateway.client.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"code": 401, "error": "invalid admin token", "success": False}
    samples = scrape(gateway)
    assert value(samples, "callbridge_node_info") == 1
    assert value(samples, "callbridge_node_state", state="active") == 1
    assert value(samples, "callbridge_node_state", state="draining") == 0
    assert value(samples, "callbridge_calls", state="active") == 0
    assert value(samples, "callbridge_event_loop_lag_seconds", stat="p99") >= 0
    assert value(samples, "callbridge_process_resident_memory_bytes") > 0


def test_metrics_are_public_when_configured(start_gateway: Callable[..., Gateway]) -> None:
    gateway = start_gateway(metrics_public=True)
    r = gateway.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert "callbridge_calls_total" in r.text and "callbridge_webhook_outbox_events" in r.text


async def test_a_call_shows_in_the_metrics_and_keeps_its_quality(scene: Scene) -> None:
    gateway = scene.gateway
    before = await to_thread(scrape, gateway)
    write_tone(gateway.workdir / "files" / "metrics-tone.wav", 880, 1.0)
    _, call_id = await active_call(scene, say="tone:440")
    browser = PyBrowser(say_hz=660)
    try:
        assert (await browser.join(gateway.url, scene.token, call_id)).status_code == 200
        await to_thread(scene.wait_event, call_id, "CallState", Event="browser_connected")
        play = {"CallID": call_id, "AudioFile": "metrics-tone.wav"}
        assert (await to_thread(scene.post, "/call/play", play)).is_success
        assert (await to_thread(scene.post, "/call/record", {"CallID": call_id})).is_success
        await asyncio.sleep(2)
        live = await to_thread(scrape, gateway)
        assert value(live, "callbridge_calls", state="active", direction="outgoing") >= 1
        assert value(live, "callbridge_endpoints", kind="webrtc", role="talk") >= 1
        assert value(live, "callbridge_recording_calls") >= 1
        # ~50 packets a second come from the user, and as many frames go back, counted from the live legs.
        assert (
            value(live, "callbridge_media_packets_total", leg="whatsapp", direction="in")
            >= value(before, "callbridge_media_packets_total", leg="whatsapp", direction="in") + 50
        )
        assert value(live, "callbridge_media_packets_total", leg="webrtc", direction="out") > 0
        assert (await to_thread(scene.post, "/call/record/stop", {"CallID": call_id})).is_success
        assert (await to_thread(scene.post, "/call/end", {"CallID": call_id})).is_success
    finally:
        await browser.close()

    ended = await to_thread(scene.wait_state, call_id, "ended")
    quality = ended["Quality"]
    assert set(quality) == {"LossPercent", "JitterP95Ms", "LateFrames"}
    assert 0 <= quality["LossPercent"] < 5 and 0 <= quality["JitterP95Ms"] < 100 and quality["LateFrames"] >= 0
    terminate = await to_thread(scene.wait_event, call_id, "CallTerminate")
    assert terminate["Quality"] == quality  # the event reports the call as it ended
    # Ended calls in the list show it too.
    listed = gateway.get("/call/status", token=scene.token, params={"History": 5}).json()["data"]["calls"]
    assert next(c for c in listed if c["CallID"] == call_id)["Quality"] == quality

    def settled() -> Samples | None:  # the last webhook deliveries are timed once they are answered
        samples = scrape(gateway)
        return samples if value(samples, "callbridge_webhook_outbox_events", status="pending") == 0 else None

    drained = await wait_for(settled, what="the outbox to drain")
    assert drained is not None
    after: Samples = drained

    def grew(name: str, **labels: str) -> float:  # labels seen for the first time were 0 before
        return value(after, name, **labels) - sum(series(before, name, **labels))

    assert grew("callbridge_calls_total", direction="outgoing", outcome="answered") == 1
    assert value(after, "callbridge_calls", state="active") == 0
    assert grew("callbridge_call_setup_seconds_count", direction="outgoing") == 1
    assert value(after, "callbridge_call_setup_seconds_sum", direction="outgoing") > 0
    for leg in ("whatsapp", "webrtc"):
        assert grew("callbridge_leg_loss_percent_count", leg=leg) == 1
        assert grew("callbridge_leg_jitter_p95_milliseconds_count", leg=leg) == 1
    # Closed legs' packets stay counted: the counter never goes back when a call ends.
    assert value(after, "callbridge_media_packets_total", leg="whatsapp", direction="in") >= value(
        live, "callbridge_media_packets_total", leg="whatsapp", direction="in"
    )
    assert grew("callbridge_playbacks_total") == 1
    assert grew("callbridge_recordings_total", event="started") == 1
    assert grew("callbridge_recordings_total", event="finished") == 1
    assert value(after, "callbridge_webhook_outbox_events", status="delivered") >= 8
    assert grew("callbridge_webhook_delivery_seconds_count", result="ok") >= 8
    assert grew("callbridge_graph_request_seconds_count", operation="connect") == 1
    assert grew("callbridge_graph_request_seconds_count", operation="terminate") == 1


def test_graph_errors_are_counted_by_meta_code(scene: Scene) -> None:
    """A user who has not granted call permission: Meta refuses the call with its code 138006."""
    wa_id = scene.user(grant_permission=False)
    r = scene.post("/call/make", {"Phone": wa_id})
    assert r.status_code == 403, r.text
    samples = scrape(scene.gateway)
    assert value(samples, "callbridge_graph_errors_total", operation="connect", code="138006") >= 1


# ---- units ---------------------------------------------------------------------------------------------------


def test_the_reservoir_keeps_a_bounded_uniform_sample() -> None:
    sample = Reservoir(size=500, rng=random.Random(7))
    for i in range(200_000):
        sample.add(float(i))
    assert len(sample.values) == 500 and sample.seen == 200_000
    # Uniform over the whole stream: early and late values alike, quantiles where they belong.
    assert sample.percentile(0.5) == pytest.approx(100_000, rel=0.1)
    assert sample.percentile(0.95) == pytest.approx(190_000, rel=0.05)
    assert min(sample.values) < 20_000 and max(sample.values) > 180_000


def test_a_short_stream_is_kept_whole() -> None:
    sample = Reservoir(size=100)
    for v in (5.0, 1.0, 3.0):
        sample.add(v)
    assert sorted(sample.values) == [1.0, 3.0, 5.0]
    assert sample.percentile(0.95) == 5.0 and sample.percentile(0.5) == 3.0
    assert Reservoir().percentile(0.95) == 0.0


def test_jitter_follows_rfc_3550() -> None:
    steady = ArrivalJitter()
    for i in range(500):
        steady.arrived(i * 0.020, i * 960)
    assert steady.p95_ms() == pytest.approx(0.0, abs=1e-9)

    shaky = ArrivalJitter()
    for i in range(2000):  # every other packet 10 ms late: |D| alternates 10 ms, J settles near 10 ms
        shaky.arrived(i * 0.020 + (0.010 if i % 2 else 0.0), i * 960)
    assert shaky.jitter_ms == pytest.approx(10.0, abs=0.5)
    assert shaky.p95_ms() == pytest.approx(10.0, abs=0.5)


def test_g711_legs_measure_jitter_on_their_8_khz_clock() -> None:
    inbound = G711Inbound("pcmu")
    for i in range(100):  # 20 ms packets of 160 samples, on time: no jitter at all
        inbound.jitter.arrived(i * 0.020, i * 160)
    assert inbound.jitter.p95_ms() == pytest.approx(0.0, abs=1e-9)
