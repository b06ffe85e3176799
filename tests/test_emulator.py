"""The emulator holds the gateway to Meta's rules, so those rules are tested on the emulator itself."""

from __future__ import annotations

import asyncio
import re

import aioice.ice
import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from callbridge.connectors.cloud.sdp import for_meta
from callbridge.emulator.sdp_rules import SdpRejected, check_business_sdp
from tests.support.emulator import Scene
from tests.support.net import wait_until


async def aiortc_offer(
    direction: str = "sendrecv", keep_all_fingerprints: bool = False
) -> tuple[RTCPeerConnection, str]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    return pc, sdp if keep_all_fingerprints else for_meta(sdp, answer=False)


def graph_calls(scene: Scene, body: dict, token: str | None = None) -> httpx.Response:
    n = scene.token.rsplit("-", 1)[1]
    return scene.emulator.client.post(
        f"/v23.0/{scene.phone_number_id}/calls",
        json=body,
        headers={"Authorization": f"Bearer {token or f'access-{n}'}"},
    )


async def test_an_sdp_with_sha384_and_sha512_fingerprints_is_refused_as_meta_does(scene: Scene) -> None:
    alice = scene.user()
    pc, sdp = await aiortc_offer(keep_all_fingerprints=True)
    try:
        assert re.search(r"a=fingerprint:sha-(384|512)", sdp)  # what aiortc produces
        r = graph_calls(
            scene,
            {
                "messaging_product": "whatsapp",
                "to": alice,
                "action": "connect",
                "session": {"sdp_type": "offer", "sdp": sdp},
            },
        )
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == 100 and error["error_subcode"] == 2494010
        assert error["message"] == "(#100) Invalid parameter" and error["type"] == "OAuthException"
        assert error["error_data"] == {"messaging_product": "whatsapp", "details": "Fingerprint algo is not SHA256"}
        assert error["fbtrace_id"]
        # The gateway's filter is what makes the same offer acceptable.
        r = graph_calls(
            scene,
            {
                "messaging_product": "whatsapp",
                "to": alice,
                "action": "connect",
                "session": {"sdp_type": "offer", "sdp": for_meta(sdp, answer=False)},
            },
        )
        assert r.status_code == 200, r.text
        graph_calls(
            scene, {"messaging_product": "whatsapp", "call_id": r.json()["calls"][0]["id"], "action": "terminate"}
        )
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"messaging_product": "whatsapp", "to": "1", "action": "dial"}, 400, 100),
        ({"to": "1", "action": "connect"}, 400, 100),
        ({"messaging_product": "whatsapp", "action": "terminate"}, 400, 100),
        ({"messaging_product": "whatsapp", "action": "terminate", "call_id": "wacid.none"}, 400, 100),
        (
            {
                "messaging_product": "whatsapp",
                "to": "15550009999",
                "action": "connect",
                "session": {"sdp_type": "offer"},
            },
            400,
            100,
        ),
    ],
)
def test_graph_api_shape_errors(scene: Scene, body: dict, status: int, code: int) -> None:
    r = graph_calls(scene, body)
    assert r.status_code == status and r.json()["error"]["code"] == code


def test_graph_api_token_checks(scene: Scene) -> None:
    r = graph_calls(scene, {"messaging_product": "whatsapp", "action": "terminate", "call_id": "x"}, token="bad")
    assert r.status_code == 401 and r.json()["error"]["code"] == 190
    r = scene.emulator.client.post(f"/v23.0/{scene.phone_number_id}/calls", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == 2500


def test_sdp_rules_unit() -> None:
    good = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=fingerprint:sha-256 AA:BB\r\n"
        "a=setup:active\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n"
    )
    check_business_sdp(good, "answer")
    cases = {
        good.replace("a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n", ""): "no ICE candidates",
        good.replace("opus/48000/2", "PCMU/8000"): "OPUS",
        good + "a=ice-lite\r\n": "ICE lite",
        good.replace("a=setup:active", "a=setup:passive"): "a=setup:passive",
        good.replace("sha-256", "sha-1"): "Fingerprint algo is not SHA256",
        "x" + good: "v=0",
    }
    for sdp, message in cases.items():
        with pytest.raises(SdpRejected, match=message):
            check_business_sdp(sdp, "answer")


async def test_a_call_that_gets_no_audio_from_the_business_is_ended(short_media_emulator: Scene) -> None:
    """Meta drops calls that receive no Opus for ~20 s; the emulator does too, or the 45 s test could not fail."""
    scene = short_media_emulator
    alice = scene.user(answer_after_ms=0)
    pc, offer = await aiortc_offer(direction="recvonly")  # a business leg that never sends
    try:
        r = graph_calls(
            scene,
            {
                "messaging_product": "whatsapp",
                "to": alice,
                "action": "connect",
                "session": {"sdp_type": "offer", "sdp": offer},
            },
        )
        call_id = r.json()["calls"][0]["id"]
        await asyncio.to_thread(
            wait_until,
            lambda: scene.emulator.call(call_id)["state"] == "ended",
            15,
            0.1,
            "the emulator to end the silent call",
        )
        assert scene.emulator.call(call_id)["end_reason"] == "no audio from the business for 2s"
        terminates = [
            w
            for w in scene.emulator.client.get("/emulator/webhooks").json()["webhooks"]
            if '"terminate"' in str(w).replace("'", '"') and call_id in str(w)
        ]
        assert terminates
    finally:
        await pc.close()
