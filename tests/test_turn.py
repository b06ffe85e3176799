"""TURN with Debian's coturn on 127.0.0.1: relayed browser audio over UDP and TCP, REST credentials,
and a wrong secret that is reported instead of failing silently."""

from __future__ import annotations

import json
from asyncio import to_thread
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from callbridge.media.ice import turn_rest_credentials
from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import EmulatorProcess, Scene
from tests.support.gateway import GatewayProcess
from tests.support.receiver import Receiver
from tests.support.turn import Coturn
from tests.test_media_bridge import active_call, heard

SECRET = "coturn-shared-secret-for-tests"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn"), SECRET).start()
    yield server
    server.stop()


def turn_gateway(start_gateway, coturn: Coturn, secret: str = SECRET) -> GatewayProcess:
    return start_gateway(ice_hosts="127.0.0.1", ice_servers=json.dumps([{"urls": coturn.urls}]), turn_secret=secret)


def relay_browser(config: dict, transport: str) -> PyBrowser:
    """A browser forced through the relay, on one transport (aiortc takes the first TURN URL only)."""
    browser = PyBrowser(say_hz=660)
    server = config["iceServers"][0]
    urls = [u for u in server["urls"] if u.endswith(f"transport={transport}")]
    ice = RTCIceServer(urls=urls, username=server["username"], credential=server["credential"])
    browser.pc = RTCPeerConnection(RTCConfiguration(iceServers=[ice], iceTransportPolicy=RTCIceTransportPolicy.RELAY))
    browser.pc.addTrack(browser.mouth)
    browser.pc.on("track", browser._on_track)
    return browser


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relayed_browser_audio(
    start_gateway,
    coturn: Coturn,
    emulator: EmulatorProcess,
    receiver: Receiver,
    transport: str,
) -> None:
    gateway = await to_thread(turn_gateway, start_gateway, coturn)
    scene = await to_thread(Scene(gateway, emulator, receiver).setup)
    health = (await to_thread(gateway.client.get, "/health")).json()["data"]
    assert health["turn"]["status"] == "ok", health

    config = (await to_thread(gateway.get, "/call/webrtc/config", token=scene.token)).json()
    assert config["turn"] == {"enabled": True, "status": "configured"}
    server = config["iceServers"][0]
    assert server["urls"] == coturn.urls
    expiry, user = server["username"].split(":", 1)
    assert server["credential"] == turn_rest_credentials(SECRET, user, 0, now=int(expiry))[1]

    _, call_id = await active_call(scene, say="tone:440")
    browser = relay_browser(config, transport)
    try:
        offer = await browser.offer()
        candidates = [line for line in offer.splitlines() if line.startswith("a=candidate:")]
        assert candidates and all(" typ relay " in c for c in candidates), candidates
        r = await browser.join(gateway.url, scene.token, call_id)
        assert r.status_code == 200, r.text
        await wait_for(lambda: heard(scene, call_id, 1)["dominant_hz"] == pytest.approx(660, abs=5), what="660 Hz")
        await wait_for(
            lambda: browser.ear.report(last_seconds=1)["dominant_hz"] == pytest.approx(440, abs=5),
            what="440 Hz in the browser",
        )
        pair = browser.pc.getTransceivers()[0].sender.transport.transport._connection._nominated
        assert all(p.local_candidate.type == "relay" for p in pair.values())
    finally:
        await browser.close()


async def test_a_wrong_turn_secret_is_reported_clearly(
    start_gateway,
    coturn: Coturn,
    emulator: EmulatorProcess,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    gateway = await to_thread(turn_gateway, start_gateway, coturn, "not-the-secret")
    health = await wait_for(
        lambda: (
            gateway.client.get("/health").json()["data"]["turn"]["status"] != "disabled"
            and gateway.client.get("/health").json()["data"]
        ),
        what="the TURN check",
    )
    assert health["status"] == "degraded"
    assert health["turn"]["status"] == "failed"
    assert "refused the credentials (401 Unauthorized)" in health["turn"]["detail"]
    assert "CALLBRIDGE_TURN_SECRET" in health["turn"]["detail"]
    assert "TURN check failed" in gateway.log() and "CALLBRIDGE_TURN_SECRET" in gateway.log()

    # The call still works on host candidates, and says its relay is missing.
    scene = await to_thread(Scene(gateway, emulator, receiver).setup)
    _, call_id = await active_call(scene)
    warning = await to_thread(scene.wait_event, call_id, "CallState", Event="media_warning")
    assert "TURN gave no relay candidate" in warning["Detail"]
    assert "TURN gave no relay candidate" in (await to_thread(scene.call_status, call_id))["Warnings"][0]
    # A browser forced to relay gets nothing to offer with these credentials: the SDK reports ICE failure.
    config = (await to_thread(gateway.get, "/call/webrtc/config", token=scene.token)).json()
    browser = relay_browser(config, "udp")
    try:
        offer = await browser.offer()
        assert "a=candidate:" not in offer
    finally:
        await browser.close()


async def test_an_unreachable_turn_server_is_reported(start_gateway, coturn: Coturn) -> None:
    dead = json.dumps([{"urls": ["turn:127.0.0.1:9?transport=tcp"]}])
    gateway = await to_thread(start_gateway, ice_hosts="127.0.0.1", ice_servers=dead, turn_secret=SECRET)
    health = await wait_for(
        lambda: (h := gateway.client.get("/health").json()["data"])["turn"]["status"] == "failed" and h,
        what="the TURN check",
    )
    assert "unreachable" in health["turn"]["detail"]
