"""A call with several endpoints, audio asserted by FFT: supervisor listen and coach whisper, warm and blind
transfer, hold, playback the agent hears (or not), consent before recording, a reload of one endpoint, an
endpoint that vanishes, and the requests that must be refused without touching the call."""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from asyncio import to_thread
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver
from tests.support.audio_files import write_tone
from tests.support.browser import PyBrowser, wait_for
from tests.test_media_bridge import active_call, heard

ALICE, AGENT, SUPERVISOR, COACH, SECOND = 440, 660, 880, 550, 1000


def has(peaks: list[float], hz: float) -> bool:
    return any(abs(p - hz) <= 8 for p in peaks)


def user_peaks(scene: Scene, call_id: str, last: float = 1.5) -> list[float]:
    return list(heard(scene, call_id, last)["peaks_hz"])


def ear_peaks(browser: PyBrowser, last: float = 1.5) -> list[float]:
    return list(browser.ear.report(last_seconds=last)["peaks_hz"])


def files_dir(scene: Scene) -> Path:
    path = scene.gateway.workdir / "files"
    path.mkdir(exist_ok=True)
    return path


def endpoints(scene: Scene, call_id: str) -> dict[str, dict[str, Any]]:
    return {e["EndpointID"]: e for e in scene.call_status(call_id)["Endpoints"]}


@contextlib.asynccontextmanager
async def browsers(*tones: float | None) -> AsyncIterator[list[PyBrowser]]:
    made = [PyBrowser(say_hz=hz) for hz in tones]
    try:
        yield made
    finally:
        for browser in made:
            await browser.close()


async def attach(scene: Scene, browser: PyBrowser, call_id: str, endpoint_id: str, role: str = "talk") -> None:
    r = await browser.join(scene.gateway.url, scene.token, call_id, endpoint_id=endpoint_id, role=role)
    assert r.status_code == 200, r.text
    assert (r.json()["endpointID"], r.json()["role"]) == (endpoint_id, role)
    await to_thread(scene.wait_event, call_id, "EndpointAttached", Endpoint=_attached(endpoint_id, role))


def _attached(endpoint_id: str, role: str) -> Any:
    class Matches:
        def __eq__(self, endpoint: object) -> bool:
            return isinstance(endpoint, dict) and (endpoint["EndpointID"], endpoint["Role"]) == (endpoint_id, role)

    return Matches()


async def eventually(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    await wait_for(check, within=within, what=what)


async def hears(peaks: Callable[[], list[float]], *tones: float, who: str = "someone") -> None:
    """Wait until all ``tones`` are among the strongest peaks of what ``peaks`` reports."""
    await eventually(lambda: all(has(peaks(), hz) for hz in tones), f"{who} to hear {tones}")


async def test_talk_listen_and_whisper_each_hear_what_their_role_allows(scene: Scene) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, SUPERVISOR, COACH) as (agent, supervisor, coach):
        await attach(scene, agent, call_id, "default")
        await attach(scene, supervisor, call_id, "supervisor", "listen")
        await attach(scene, coach, call_id, "coach", "whisper")
        await hears(lambda: ear_peaks(supervisor), ALICE, AGENT, COACH, who="the supervisor")
        await hears(lambda: ear_peaks(agent), ALICE, COACH, who="the agent")
        await hears(lambda: ear_peaks(coach), ALICE, AGENT, who="the coach")

        alice = await to_thread(user_peaks, scene, call_id)
        assert has(alice, AGENT) and not has(alice, SUPERVISOR) and not has(alice, COACH), alice
        a = ear_peaks(agent)
        assert has(a, ALICE) and has(a, COACH) and not has(a, SUPERVISOR), a
        s = ear_peaks(supervisor)
        assert has(s, ALICE) and has(s, AGENT) and has(s, COACH), s
        w = ear_peaks(coach)
        assert has(w, ALICE) and has(w, AGENT) and not has(w, SUPERVISOR), w

        await asyncio.sleep(1)
        r = await to_thread(scene.gateway.get, "/call/stats", token=scene.token, params={"CallID": call_id})
        stats = r.json()["data"]
        # The agent's voice still reaches WhatsApp untouched; the others hear mixes, one per distinct mix.
        assert stats["legs"]["whatsapp"]["outbound"]["encoded"] == 0
        assert stats["legs"]["whatsapp"]["outbound"]["forwarded"] > 40
        assert stats["endpoints"]["supervisor"]["outbound"]["encoded"] > 40
        assert stats["endpoints"]["supervisor"]["inbound"]["decoded"] == 0  # a listener's voice goes nowhere
        assert len(stats["mixes"]) == 3
        call = await to_thread(scene.call_status, call_id)
        assert {(e["EndpointID"], e["Role"], e["Kind"], e["State"]) for e in call["Endpoints"]} == {
            ("default", "talk", "webrtc", "connected"),
            ("supervisor", "listen", "webrtc", "connected"),
            ("coach", "whisper", "webrtc", "connected"),
        }


async def test_warm_transfer_the_second_agent_takes_over_and_the_call_stays_active(scene: Scene) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, SECOND) as (first, second):
        await attach(scene, first, call_id, "default")
        await attach(scene, second, call_id, "agent-b")
        await hears(lambda: user_peaks(scene, call_id), AGENT, SECOND, who="Alice")  # a three-way call
        await hears(lambda: ear_peaks(second), ALICE, AGENT, who="the second agent")

        r = await to_thread(scene.post, "/call/webrtc/close", {"callID": call_id, "endpointID": "default"})
        assert r.status_code == 200 and r.json()["closed"] is True
        detached = await to_thread(scene.wait_event, call_id, "EndpointDetached")
        assert detached["Endpoint"]["EndpointID"] == "default" and detached["Reason"] == "closed by the app"
        await eventually(
            lambda: has(p := user_peaks(scene, call_id, 1.0), SECOND) and not has(p, AGENT),
            "Alice to hear the second agent alone",
        )
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"
        states = [e["Event"] for e in await to_thread(scene.events, call_id, "CallState")]
        assert "ended" not in states and "terminated" not in states


async def test_blind_transfer_plays_hold_audio_until_the_next_agent_connects(scene: Scene) -> None:
    write_tone(files_dir(scene) / "hold300.wav", 300, 1.0)
    _, call_id = await active_call(scene, say="silence")
    async with browsers(AGENT, SECOND, AGENT) as (first, second, first_reloaded):
        await attach(scene, first, call_id, "default")
        before = (await to_thread(scene.post, "/call/webrtc/token", {"CallID": call_id})).json()["data"]["token"]
        r = await to_thread(scene.post, "/call/transfer", {"CallID": call_id, "HoldAudio": "hold300.wav"})
        assert r.status_code == 200, r.text
        grant = r.json()["data"]
        assert grant["Detached"] == ["default"] and grant["Role"] == "talk" and grant["token"].startswith("cbt.")
        assert (await to_thread(scene.call_status, call_id))["Transferring"] is True
        await hears(lambda: user_peaks(scene, call_id, 1.0), 300, who="Alice")
        await asyncio.sleep(1.5)  # longer than the one-second file: it loops
        held = await to_thread(heard, scene, call_id, 1.0)
        assert held["dominant_hz"] == pytest.approx(300, abs=8), held

        stale = await first_reloaded.join(scene.gateway.url, before, call_id)  # the first agent's page again
        assert stale.status_code == 401 and "transferred" in stale.json()["error"], stale.text
        r2 = await second.join(scene.gateway.url, grant["token"], call_id)  # the next agent, with the new token
        assert r2.status_code == 200, r2.text
        await eventually(lambda: "Transferring" not in scene.call_status(call_id), "the transfer to complete")
        await eventually(
            lambda: has(p := user_peaks(scene, call_id, 1.0), SECOND) and not has(p, 300),
            "Alice to hear the next agent instead of the hold audio",
        )
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"


async def test_hold_cuts_both_ways_and_resume_restores_the_passthrough(scene: Scene) -> None:
    write_tone(files_dir(scene) / "music350.wav", 350, 3.0)
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT) as (agent,):
        await attach(scene, agent, call_id, "default")
        r = await to_thread(scene.post, "/call/hold", {"CallID": call_id, "On": True, "HoldAudio": "music350.wav"})
        assert r.status_code == 200 and r.json()["data"] == {"CallID": call_id, "Held": True}
        await eventually(lambda: heard(scene, call_id, 1.0)["dominant_hz"] == pytest.approx(350, abs=8), "music")
        await eventually(lambda: agent.ear.report(last_seconds=1.0)["rms_dbfs"] < -50, "the agent to hear nothing")
        assert (await to_thread(scene.call_status, call_id))["Held"] is True
        held = await to_thread(scene.wait_event, call_id, "CallState", Event="held")
        assert held["Held"] is True  # every page and the app learn it, not only the one that asked

        assert (await to_thread(scene.post, "/call/hold", {"CallID": call_id, "On": False})).status_code == 200
        await eventually(lambda: heard(scene, call_id, 1.0)["dominant_hz"] == pytest.approx(AGENT, abs=5), "agent")
        await eventually(
            lambda: agent.ear.report(last_seconds=1.0)["dominant_hz"] == pytest.approx(ALICE, abs=5), "Alice"
        )
        assert "Held" not in await to_thread(scene.call_status, call_id)
        await to_thread(scene.wait_event, call_id, "CallState", Event="resumed")


@pytest.mark.parametrize(("to", "agent_hears_file"), [("all", True), ("whatsapp", False)])
async def test_playback_reaches_the_agent_unless_it_is_for_whatsapp_only(
    scene: Scene, to: str, agent_hears_file: bool
) -> None:
    write_tone(files_dir(scene) / "notice750.wav", 750, 4.0)
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(None) as (agent,):
        await attach(scene, agent, call_id, "default")
        r = await to_thread(scene.post, "/call/play", {"CallID": call_id, "AudioFile": "notice750.wav", "To": to})
        assert r.status_code == 200, r.text
        await hears(lambda: user_peaks(scene, call_id, 1.0), 750, who="Alice")
        if agent_hears_file:
            await hears(lambda: ear_peaks(agent, 1.0), ALICE, 750, who="the agent")
        else:
            await asyncio.sleep(1.0)  # a second of the file playing to Alice
            agent_heard = ear_peaks(agent, 1.0)
            assert has(agent_heard, ALICE) and not has(agent_heard, 750), agent_heard


async def test_consent_announcement_plays_before_the_recording_starts(scene: Scene) -> None:
    write_tone(files_dir(scene) / "consent.wav", 750, 2.0)
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT) as (agent,):
        await attach(scene, agent, call_id, "default")
        asked = time.monotonic()
        body = {"CallID": call_id, "Path": "consent-test.wav", "Announce": "consent.wav"}
        r = await to_thread(scene.post, "/call/record", body)
        assert r.status_code == 200 and r.json()["data"]["Announce"] == "consent.wav", r.text
        assert (await to_thread(scene.call_status, call_id))["Announcing"] is True
        await hears(lambda: user_peaks(scene, call_id, 0.8), 750, who="Alice")  # Alice hears the notice
        await hears(lambda: ear_peaks(agent, 0.8), 750, who="the agent")  # and so does the agent
        started = await to_thread(scene.wait_event, call_id, "CallState", Event="recording_started")
        started_at = time.monotonic()
        assert started_at - asked >= 1.9  # not before the two-second notice ended
        events = [e["Event"] for e in await to_thread(scene.events, call_id, "CallState")]
        assert events.index("playback_finished") < events.index("recording_started")
        assert started["Path"] == "files/consent-test.wav"
        await asyncio.sleep(3)
        stopped = await to_thread(scene.post, "/call/record/stop", {"CallID": call_id})
        seconds = stopped.json()["data"]["Seconds"]
        ran = time.monotonic() - started_at
        assert seconds == pytest.approx(ran, abs=0.6), (seconds, ran)
        with wave.open(str(files_dir(scene) / "consent-test.wav")) as wav:
            assert wav.getnframes() / wav.getframerate() == pytest.approx(seconds, abs=0.05)


async def test_a_recording_whose_announcement_is_cut_short_never_starts(scene: Scene) -> None:
    write_tone(files_dir(scene) / "consent-long.wav", 750, 5.0)
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    body = {"CallID": call_id, "Path": "never.wav", "Announce": "consent-long.wav"}
    assert (await to_thread(scene.post, "/call/record", body)).status_code == 200
    await to_thread(scene.wait_event, call_id, "CallState", Event="playback_started")
    assert (await to_thread(scene.post, "/call/play/stop", {"CallID": call_id})).status_code == 200
    warning = await to_thread(scene.wait_event, call_id, "CallState", Event="media_warning")
    assert "cancelled" in warning["Detail"]
    await asyncio.sleep(0.5)
    call = await to_thread(scene.call_status, call_id)
    assert "Recording" not in call and "Announcing" not in call
    assert not (files_dir(scene) / "never.wav").exists()
    r = await to_thread(scene.post, "/call/record/stop", {"CallID": call_id})
    assert r.status_code == 409, r.text


async def test_a_reload_of_one_endpoint_restores_its_audio_without_touching_the_others(scene: Scene) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, None, None) as (agent, supervisor, reloaded):
        await attach(scene, agent, call_id, "default")
        await attach(scene, supervisor, call_id, "supervisor", "listen")
        agent_frames, before = agent.frames, time.monotonic()
        r = await reloaded.join(scene.gateway.url, scene.token, call_id, endpoint_id="supervisor", role="listen")
        assert r.status_code == 200
        joined = time.monotonic()
        await wait_for(lambda: has(ear_peaks(reloaded, 0.5), ALICE), within=5, what="the reloaded page's audio")
        assert time.monotonic() - joined < 2.0 + 0.5  # polling adds a little
        await asyncio.sleep(1)
        expected = (time.monotonic() - before) / 0.02
        assert agent.frames - agent_frames >= 0.8 * expected, (agent.frames - agent_frames, expected)  # no gap
        assert has(await to_thread(user_peaks, scene, call_id, 1.0), AGENT)
        assert set(await to_thread(endpoints, scene, call_id)) == {"default", "supervisor"}
        replaced = await to_thread(scene.wait_event, call_id, "EndpointDetached")
        assert replaced["Endpoint"]["EndpointID"] == "supervisor" and "replaced" in replaced["Reason"]


async def test_an_endpoint_that_falls_silent_is_detached_and_the_others_go_on(scene: Scene) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, SUPERVISOR) as (agent, frozen):
        await attach(scene, agent, call_id, "default")
        await attach(scene, frozen, call_id, "frozen", "whisper")
        frozen.go_quiet()  # ICE still answers, so only the silence says it is gone
        went_quiet = time.monotonic()
        gone = await to_thread(scene.wait_event, call_id, "EndpointDetached", 20)
        assert gone["Endpoint"]["EndpointID"] == "frozen" and "nothing" in gone["Reason"]
        assert time.monotonic() - went_quiet < 15
        assert set(await to_thread(endpoints, scene, call_id)) == {"default"}
        assert has(await to_thread(user_peaks, scene, call_id, 1.0), AGENT)
        assert (await to_thread(scene.call_status, call_id))["State"] == "active"


async def test_bad_requests_are_refused_and_the_call_keeps_its_endpoints(scene: Scene) -> None:
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, None) as (agent, intruder):
        await attach(scene, agent, call_id, "default")
        gw, sdp = scene.gateway, await intruder.offer()

        def offer(token: str, **extra: str) -> Any:
            return gw.post(
                "/call/webrtc/offer", token=token, json={"callID": call_id, "type": "offer", "sdp": sdp, **extra}
            )

        r = await to_thread(offer, scene.token, role="shout")
        assert r.status_code == 400 and "unknown role" in r.json()["error"], r.text
        r = await to_thread(offer, scene.token, endpointID="no spaces/or slashes")
        assert r.status_code == 400, r.text
        listen = (await to_thread(scene.post, "/call/webrtc/token", {"CallID": call_id, "Role": "listen"})).json()
        token = listen["data"]["token"]
        assert listen["data"]["Role"] == "listen"
        r = await to_thread(offer, token, endpointID="sneaky", role="talk")
        assert r.status_code == 403 and "listen" in r.json()["error"], r.text
        r = await to_thread(offer, token, role="listen")  # "default" is the agent's: a listen token cannot replace it
        assert r.status_code == 403, r.text
        r = await to_thread(gw.post, "/call/webrtc/close", token=token, json={"callID": call_id})
        assert r.status_code == 403, r.text
        r = await to_thread(scene.post, "/call/play", {"CallID": call_id, "AudioFile": "x.wav", "To": "everyone"})
        assert r.status_code == 400, r.text
        r = await to_thread(scene.post, "/call/transfer", {"CallID": call_id, "HoldAudio": "../../etc/passwd.wav"})
        assert r.status_code == 400 and str(files_dir(scene)) not in r.text, r.text

        await asyncio.sleep(1)
        assert set(await to_thread(endpoints, scene, call_id)) == {"default"}
        assert (await to_thread(scene.call_status, call_id)).get("Transferring") is None
        assert has(await to_thread(user_peaks, scene, call_id, 1.0), AGENT)  # the agent is still heard

    wa_id = await to_thread(scene.user, answer_after_ms=5000)
    ringing = (await to_thread(scene.post, "/call/make", {"Phone": wa_id})).json()["data"]["call"]["CallID"]
    r = await to_thread(scene.post, "/call/transfer", {"CallID": ringing})
    assert r.status_code == 409 and "ringing" in r.json()["error"], r.text
    r = await to_thread(scene.post, "/call/hold", {"CallID": "wacid.unknown", "On": True})
    assert r.status_code == 404, r.text


async def test_a_call_takes_no_more_endpoints_than_the_limit(
    start_gateway: Callable[..., Gateway], emulator: Emulator, receiver: WebhookReceiver
) -> None:
    scene = Scene(start_gateway(ice_hosts="127.0.0.1", max_endpoints=2), emulator, receiver).setup()
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    async with browsers(AGENT, None, None) as (agent, supervisor, third):
        await attach(scene, agent, call_id, "default")
        await attach(scene, supervisor, call_id, "supervisor", "listen")
        r = await third.join(scene.gateway.url, scene.token, call_id, endpoint_id="third", role="listen")
        assert r.status_code == 409 and "2 endpoints" in r.json()["error"], r.text
        r = await third.join(scene.gateway.url, scene.token, call_id, endpoint_id="supervisor", role="listen")
        assert r.status_code == 200, r.text  # replacing one is not adding one
        assert set(await to_thread(endpoints, scene, call_id)) == {"default", "supervisor"}
