"""Auto-answer for voice bots: Alice calls, the call is answered and the bot hears her, with no API call by the app."""

from __future__ import annotations

import asyncio
from asyncio import to_thread
from collections.abc import AsyncIterator

import pytest

from tests.support.audio_files import write_tone
from tests.support.browser import wait_for
from tests.support.emulator import Scene
from tests.test_media_bridge import heard
from tests.test_stream_endpoint import ALICE, BOT, Bot, bot_server, connected, has


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async for running in bot_server(Bot()):
        yield running


def set_autoanswer(scene: Scene, body: dict) -> dict:
    r = scene.post("/call/autoanswer", body)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def test_an_incoming_call_is_answered_and_handed_to_the_bot(scene: Scene, bot: Bot) -> None:
    files = scene.gateway.workdir / "files"
    files.mkdir(exist_ok=True)
    write_tone(files / "hello750.wav", 750, 1.0)
    body = {
        "Enabled": True,
        "Stream": {"URL": bot.url, "CustomParameters": {"queue": "sales"}},
        "Announce": "hello750.wav",
    }
    shown = await to_thread(set_autoanswer, scene, body)
    assert shown == {
        "Enabled": True,
        "Stream": {"URL": bot.url, "Format": "twilio", "CustomParameters": {"queue": "sales"}},
        "Announce": "hello750.wav",
    }
    r = await to_thread(scene.gateway.get, "/call/autoanswer", token=scene.token)
    assert r.json()["data"] == shown

    alice = await to_thread(scene.user, name="Alice", say=f"tone:{ALICE}")
    call_id = await to_thread(scene.user_calls, alice)
    await connected(bot)  # nobody called /call/accept
    start = bot.events("start")[0]["start"]
    assert start["callSid"] == call_id and start["customParameters"] == {"queue": "sales"}
    assert (await to_thread(scene.call_status, call_id))["State"] == "active"
    await to_thread(scene.wait_event, call_id, "CallState", Event="playback_finished")  # the greeting played
    await wait_for(lambda: has(bot.heard(1.0)["peaks_hz"], ALICE), what="the bot to hear Alice")

    await bot.say(2.0)
    await wait_for(lambda: has(heard(scene, call_id, 0.8)["peaks_hz"], BOT), what="Alice to hear the bot")

    off = await to_thread(set_autoanswer, scene, {"Enabled": False})
    assert off == {"Enabled": False, "Stream": None, "Announce": None}
    bob = await to_thread(scene.user, name="Bob")
    ringing = await to_thread(scene.user_calls, bob)
    await to_thread(scene.wait_event, ringing, "CallOffer")
    await asyncio.sleep(1)
    assert (await to_thread(scene.call_status, ringing))["State"] == "ringing"  # the app decides again


def test_bad_settings_are_refused_and_the_setting_is_unchanged(scene: Scene) -> None:
    def post(body: dict) -> tuple[int, str]:
        r = scene.post("/call/autoanswer", body)
        return r.status_code, r.text

    assert post({"Enabled": True})[0] == 400
    assert post({"Enabled": True, "Stream": {"URL": "http://127.0.0.1:9/bot"}})[0] == 400
    assert post({"Enabled": True, "Stream": {"URL": "ws://127.0.0.1:9/bot", "Format": "mp3"}})[0] == 400
    status, text = post({"Enabled": True, "Stream": {"URL": "ws://127.0.0.1:9/bot"}, "Announce": "missing.wav"})
    assert status == 404 and "missing.wav" in text
    assert post({"Enabled": "maybe"})[0] == 400
    r = scene.gateway.get("/call/autoanswer", token=scene.token)
    assert r.json()["data"] == {"Enabled": False, "Stream": None, "Announce": None}
    assert scene.gateway.get("/call/autoanswer", token="wrong").status_code == 401
