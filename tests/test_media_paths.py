"""A call on each media path (CALLBRIDGE_MEDIA_PATH), whatever the run's default, so both stay covered while both
ship: audio both ways by FFT, and the gateway's RTCP read by an aiortc peer (its sender sees our receiver reports,
its receiver our sender reports). On the lean path, the packets counted by our path and none by aiortc's."""

from __future__ import annotations

import asyncio
from asyncio import to_thread
from collections.abc import Iterator

import pytest

from callbridge.testing import Emulator, Gateway, WebhookReceiver
from tests.conftest import RING_TIMEOUT, new_gateway
from tests.support.browser import PyBrowser
from tests.support.database import fresh_database
from tests.support.emulator import Scene
from tests.test_media_bridge import active_call, heard


@pytest.fixture(scope="module", params=["lean", "aiortc"])
def path_gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp(f"{request.param}gw")
    with (
        fresh_database(tmp) as url,
        new_gateway(tmp, url, ice_hosts="127.0.0.1", ring_timeout=RING_TIMEOUT, media_path=request.param) as gateway,
    ):
        yield gateway


@pytest.fixture
def path_scene(path_gateway: Gateway, emulator: Emulator, receiver: WebhookReceiver) -> Scene:
    return Scene(path_gateway, emulator, receiver).setup()


async def test_a_bridged_call_carries_audio_and_rtcp_on_each_path(path_scene: Scene) -> None:
    scene = path_scene
    health = (await to_thread(scene.gateway.get, "/health")).json()["data"]
    lean = health["mediaPath"] == "lean"
    _, call_id = await active_call(scene, say="tone:440")
    browser = PyBrowser(say_hz=660)
    try:
        r = await browser.join(scene.gateway.url, scene.token, call_id)
        assert r.status_code == 200, r.text
        await to_thread(scene.wait_event, call_id, "CallState", Event="browser_connected")
        await asyncio.sleep(4)
        user_heard = await to_thread(heard, scene, call_id)
        assert user_heard["dominant_hz"] == pytest.approx(660, abs=5), user_heard
        browser_heard = browser.ear.report(last_seconds=2)
        assert browser_heard["dominant_hz"] == pytest.approx(440, abs=5), browser_heard

        stats = await to_thread(scene.gateway.get, "/call/stats", token=scene.token, params={"CallID": call_id})
        legs = stats.json()["data"]["legs"]
        for leg in (legs["whatsapp"], legs["browser"]):
            assert leg["outbound"]["forwarded"] > 100 and leg["outbound"]["encoded"] == 0, leg
            assert leg["inbound"]["released"] > 150 and leg["inbound"]["lost"] == 0, leg
            if not lean:
                assert "packets" not in leg, leg
                continue
            packets = leg["packets"]  # only the lean path reports these
            assert packets["received"] > 150 and packets["sent"] > 150, packets
            assert packets["srtp_failed"] == 0 and packets["invalid"] == 0, packets
            rtcp = packets["rtcp"]
            assert rtcp["reports_sent"] >= 2 and rtcp["reports_received"] >= 2, rtcp
            assert rtcp["received"]["packets_lost"] == 0, rtcp
            assert rtcp["reported"] is not None and rtcp["reported"]["packets_lost"] == 0, rtcp

        # The browser is plain aiortc: what it makes of our reports.
        sender_stats = await browser.pc.getSenders()[0].getStats()
        remote_inbound = [s for s in sender_stats.values() if s.type == "remote-inbound-rtp"]
        assert remote_inbound, "the peer got no receiver report from the gateway"
        assert remote_inbound[-1].packetsLost == 0 and remote_inbound[-1].jitter < 48 * 20, remote_inbound[-1]
        receiver_stats = await browser.pc.getReceivers()[0].getStats()
        remote_outbound = [s for s in receiver_stats.values() if s.type == "remote-outbound-rtp"]
        assert remote_outbound and remote_outbound[-1].packetsSent > 100, remote_outbound
        inbound = [s for s in receiver_stats.values() if s.type == "inbound-rtp"]
        assert inbound and inbound[-1].packetsReceived > 150 and inbound[-1].packetsLost == 0, inbound
    finally:
        await browser.close()
