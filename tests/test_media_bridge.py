"""A browser bridged to a WhatsApp call, audio asserted by FFT: Opus passthrough both ways, re-attach,
replacement, a vanished browser, packet loss, and offers that must be refused."""

from __future__ import annotations

import asyncio
import re
from asyncio import to_thread

import pytest

from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import Scene


async def active_call(scene: Scene, **user: object) -> tuple[str, str]:
    wa_id = await to_thread(scene.user, answer_after_ms=0, **user)
    r = await to_thread(scene.post, "/call/make", {"Phone": wa_id})
    assert r.status_code == 200, r.text
    call_id = r.json()["data"]["call"]["CallID"]
    await to_thread(scene.wait_event, call_id, "CallAccept")
    return wa_id, call_id


def heard(scene: Scene, call_id: str, last: float = 2.0) -> dict:
    return scene.emulator.call(call_id, last=last)["heard"]


async def test_browser_and_whatsapp_user_hear_each_other(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    browser = PyBrowser(say_hz=660)
    try:
        r = await browser.join(scene.gateway.url, scene.token, call_id)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["type"] == "answer" and answer["callID"] == call_id and answer["sdp"].startswith("v=0")
        assert answer["turn"] == {"enabled": False, "status": "disabled"}

        await to_thread(scene.wait_event, call_id, "CallState", Event="browser_connected")
        await asyncio.sleep(3)
        user_heard = await to_thread(heard, scene, call_id)
        assert user_heard["dominant_hz"] == pytest.approx(660, abs=5), user_heard
        assert user_heard["rms_dbfs"] > -30
        browser_heard = browser.ear.report(last_seconds=2)
        assert browser_heard["dominant_hz"] == pytest.approx(440, abs=5), browser_heard
        assert browser_heard["rms_dbfs"] > -30

        assert (await to_thread(scene.call_status, call_id))["Browser"] == "connected"
        stats = await to_thread(scene.gateway.get, "/call/stats", token=scene.token, params={"CallID": call_id})
        legs = stats.json()["data"]["legs"]
        # Passthrough: frames cross untouched; the gateway encodes nothing while nobody plays a file.
        assert legs["browser"]["outbound"]["forwarded"] > 100 and legs["browser"]["outbound"]["encoded"] == 0
        assert legs["whatsapp"]["outbound"]["forwarded"] > 100 and legs["whatsapp"]["outbound"]["encoded"] == 0
    finally:
        await browser.close()


async def test_closing_the_browser_keeps_the_call_and_a_new_offer_reattaches(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    first = PyBrowser(say_hz=660)
    second = PyBrowser(say_hz=1000)
    try:
        assert (await first.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(lambda: heard(scene, call_id, 1)["dominant_hz"] == pytest.approx(660, abs=5), what="660 Hz")

        r = await to_thread(scene.gateway.post, "/call/webrtc/close", token=scene.token, json={"callID": call_id})
        assert r.status_code == 200 and r.json() == {"callID": call_id, "closed": True, "endpointID": "default"}
        await first.close()
        await to_thread(scene.wait_event, call_id, "CallState", Event="browser_gone")
        await asyncio.sleep(1.5)
        # The WhatsApp leg goes on, sending silence: the user hears nothing, and the call stays up.
        assert (await to_thread(heard, scene, call_id, 1.0))["rms_dbfs"] < -60
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"
        assert (await to_thread(scene.call_status, call_id))["Browser"] == "none"

        # A reload: a new offer on the same call; audio is back within 2 s.
        assert (await second.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(
            lambda: heard(scene, call_id, 0.5)["dominant_hz"] == pytest.approx(1000, abs=5),
            within=2.0,
            what="the user to hear the new browser",
        )
        await wait_for(
            lambda: second.ear.report(last_seconds=0.5)["dominant_hz"] == pytest.approx(440, abs=5),
            within=2.0,
            what="the new browser to hear the user",
        )
        assert scene.emulator.call(call_id)["state"] == "active"
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"
    finally:
        await first.close()
        await second.close()


async def test_a_second_browser_replaces_the_first_cleanly(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    first, second = PyBrowser(say_hz=660), PyBrowser(say_hz=1000)
    try:
        assert (await first.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(lambda: heard(scene, call_id, 1)["dominant_hz"] == pytest.approx(660, abs=5), what="660 Hz")
        assert (await second.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        gone = await to_thread(scene.wait_event, call_id, "CallState", Event="browser_gone")
        assert gone["Reason"] == "replaced by a new browser connection"
        await wait_for(
            lambda: heard(scene, call_id, 0.5)["dominant_hz"] == pytest.approx(1000, abs=5),
            within=3.0,
            what="only the second browser",
        )
        await wait_for(lambda: first.pc.connectionState == "closed", what="the first browser to be let go")
    finally:
        await first.close()
        await second.close()


async def test_a_browser_that_vanishes_is_torn_down_and_the_call_goes_on(scene: Scene) -> None:
    _, call_id = await active_call(scene)
    browser = PyBrowser()
    assert (await browser.join(scene.gateway.url, scene.token, call_id)).status_code == 200
    await to_thread(scene.wait_event, call_id, "CallState", Event="browser_connected")
    await browser.close()  # no /call/webrtc/close: the tab just went away
    gone = await to_thread(scene.wait_event, call_id, "CallState", 40, Event="browser_gone")
    assert gone["Reason"].startswith("the browser went away without closing")
    assert (await to_thread(scene.call_status, call_id))["State"] == "active"
    assert scene.emulator.call(call_id)["state"] == "active"


async def test_two_percent_loss_from_whatsapp_neither_stalls_nor_grows_the_delay(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440", loss=0.02)
    browser = PyBrowser(say_hz=660)
    try:
        assert (await browser.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(lambda: browser.frames > 0, what="the first frame")

        def jitter() -> dict:
            r = scene.gateway.get("/call/stats", token=scene.token, params={"CallID": call_id})
            return r.json()["data"]["legs"]["whatsapp"]["inbound"]

        await asyncio.sleep(5)
        early = await to_thread(jitter)
        frames_early = browser.frames
        await asyncio.sleep(10)
        late = await to_thread(jitter)
        frames_late = browser.frames

        window = late["released"] - early["released"]
        lost = late["lost"] - early["lost"]
        assert lost > 0, late  # the loss really happened
        # The browser gets every frame that reached the gateway: at least 97 % of what the user sent.
        assert (frames_late - frames_early) >= 0.97 * (window + lost), (frames_late - frames_early, window, lost)
        # The buffer waits one loss timeout at most, and does not drift deeper as losses accumulate.
        assert late["hold_max_ms"] <= 45, late
        assert late["hold_p95_ms"] <= 25 and early["hold_p95_ms"] <= 25, (early, late)
        assert late["depth_max"] <= 4, late
        assert late["hold_avg_ms"] <= 5, late
        assert browser.ear.report(last_seconds=2)["dominant_hz"] == pytest.approx(440, abs=5)
    finally:
        await browser.close()


BAD_SDP = {
    "not sdp": "hello",
    "no media": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
    "video only": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=rtpmap:96 VP8/90000\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n",
}


async def test_bad_offers_are_refused_and_the_call_is_unaffected(scene: Scene) -> None:
    _, call_id = await active_call(scene)
    post = scene.gateway.post
    browser = PyBrowser()
    try:
        good = await browser.offer()

        def without(attribute: str) -> str:
            return "".join(line for line in good.splitlines(keepends=True) if not line.startswith(attribute))

        cases = [
            ({"callID": call_id, "type": "answer", "sdp": good}, 400, 'type must be "offer"'),
            ({"callID": call_id, "type": "offer"}, 400, "missing sdp"),
            ({"type": "offer", "sdp": good}, 400, "missing callID"),
            ({"callID": "wacid.unknown", "type": "offer", "sdp": good}, 404, "unknown call"),
            ({"callID": call_id, "type": "offer", "sdp": BAD_SDP["not sdp"]}, 400, "malformed SDP"),
            ({"callID": call_id, "type": "offer", "sdp": BAD_SDP["no media"]}, 400, "malformed SDP"),
            ({"callID": call_id, "type": "offer", "sdp": BAD_SDP["video only"]}, 400, "has no audio"),
            (
                {"callID": call_id, "type": "offer", "sdp": good.replace("a=candidate", "a=x-candidate")},
                400,
                "no ICE candidates",
            ),
            ({"callID": call_id, "type": "offer", "sdp": good.replace("opus/48000", "PCMU/8000")}, 400, "Opus"),
            (
                {"callID": call_id, "type": "offer", "sdp": good.replace("a=ice-ufrag", "a=x-ufrag")},
                400,
                "malformed SDP",
            ),
            ({"callID": call_id, "type": "offer", "sdp": good + "a=x" * 30000}, 400, "invalid sdp"),
            ({"callID": call_id, "type": "offer", "sdp": without("a=fingerprint:")}, 400, "no a=fingerprint"),
            ({"callID": call_id, "type": "offer", "sdp": without("a=setup:")}, 400, "no a=setup"),
            (
                {"callID": call_id, "type": "offer", "sdp": good.replace("a=setup:actpass", "a=setup:x")},
                400,
                "a=setup:x",
            ),
            (
                {
                    "callID": call_id,
                    "type": "offer",
                    "sdp": re.sub(r"a=fingerprint:sha-256 \S+", "a=fingerprint:x", good),
                },
                400,
                "a=fingerprint is not",
            ),
        ]
        for body, status, message in cases:
            r = await to_thread(post, "/call/webrtc/offer", token=scene.token, json=body)
            assert r.status_code == status, (body.get("sdp", "")[:40], r.text)
            assert message in r.json()["error"], r.json()
        huge = {"callID": call_id, "type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 80000}
        assert (await to_thread(post, "/call/webrtc/offer", token=scene.token, json=huge)).status_code == 413
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"
        assert (await to_thread(scene.call_status, call_id))["Browser"] == "none"
        assert scene.emulator.call(call_id)["state"] == "active"
    finally:
        await browser.close()


async def test_offers_for_ringing_or_ended_calls_are_refused(scene: Scene) -> None:
    wa_id = await to_thread(scene.user)
    call_id = await to_thread(scene.user_calls, wa_id)  # rings at the business
    await to_thread(scene.wait_event, call_id, "CallOffer")
    browser = PyBrowser()
    try:
        r = await browser.join(scene.gateway.url, scene.token, call_id)
        assert r.status_code == 409 and "ringing" in r.json()["error"]
        await to_thread(scene.post, "/call/reject", {"CallID": call_id})
        r = await PyBrowser().join(scene.gateway.url, scene.token, call_id)
        assert r.status_code == 409 and "already ended" in r.json()["error"]
        r = await to_thread(scene.gateway.post, "/call/webrtc/close", token=scene.token, json={"callID": call_id})
        assert r.status_code == 409
    finally:
        await browser.close()


def test_webrtc_config_names_the_ice_servers(scene: Scene) -> None:
    r = scene.gateway.get("/call/webrtc/config", token=scene.token)
    assert r.status_code == 200
    assert r.json() == {"iceServers": [], "turn": {"enabled": False, "status": "disabled"}}
    assert scene.gateway.get("/call/webrtc/config").status_code == 401
