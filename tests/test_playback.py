"""Files played into a call, heard by the WhatsApp user: every format, mixed with the browser, queued, stopped."""

from __future__ import annotations

import asyncio
import os
from asyncio import to_thread
from pathlib import Path

import pytest

from tests.support.audio_files import write_tone
from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import Scene
from tests.test_media_bridge import active_call, heard


def files_dir(scene: Scene) -> Path:
    path = scene.gateway.workdir / "files"
    path.mkdir(exist_ok=True)
    return path


def play(scene: Scene, call_id: str, audio: str):
    return scene.post("/call/play", {"CallID": call_id, "AudioFile": audio})


@pytest.mark.parametrize("extension", [".wav", ".mp3", ".ogg", ".opus"])
async def test_each_format_is_heard_by_the_user(scene: Scene, extension: str) -> None:
    write_tone(files_dir(scene) / f"tone880{extension}", 880, 2.0)
    _, call_id = await active_call(scene, say="silence")
    r = await to_thread(play, scene, call_id, f"tone880{extension}")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["PlayerID"].startswith("play-") and data["Seconds"] == pytest.approx(2.0, abs=0.05)
    started = await to_thread(scene.wait_event, call_id, "CallState", Event="playback_started")
    assert started["PlayerID"] == data["PlayerID"] and started["AudioFile"] == f"tone880{extension}"
    assert started["Playing"]["PlayerID"] == data["PlayerID"]
    await asyncio.sleep(1.2)
    during = await to_thread(heard, scene, call_id, 1.0)
    assert during["dominant_hz"] == pytest.approx(880, abs=5), during
    assert during["rms_dbfs"] > -30
    finished = await to_thread(scene.wait_event, call_id, "CallState", Event="playback_finished")
    assert finished["Stopped"] is False and "Playing" not in finished


async def test_the_browser_voice_is_mixed_in_while_a_file_plays(scene: Scene) -> None:
    write_tone(files_dir(scene) / "long880.wav", 880, 6.0)
    _, call_id = await active_call(scene, say="silence")
    browser = PyBrowser(say_hz=660)
    try:
        assert (await browser.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(lambda: heard(scene, call_id, 1)["dominant_hz"] == pytest.approx(660, abs=5), what="voice")
        assert (await to_thread(play, scene, call_id, "long880.wav")).status_code == 200
        await asyncio.sleep(2)
        mixed = await to_thread(heard, scene, call_id, 1.5)
        peaks = mixed["peaks_hz"]
        assert any(abs(p - 880) <= 5 for p in peaks) and any(abs(p - 660) <= 5 for p in peaks), mixed
        # Mixing means encoding; once the file is stopped, frames are forwarded untouched again.
        r = await to_thread(scene.post, "/call/play/stop", {"CallID": call_id})
        assert r.json()["data"] == {"details": "playback stopped"}
        stopped = await to_thread(scene.wait_event, call_id, "CallState", Event="playback_finished")
        assert stopped["Stopped"] is True
        await asyncio.sleep(1.5)
        after = await to_thread(heard, scene, call_id, 1.0)
        assert after["peaks_hz"] and all(abs(p - 880) > 5 for p in after["peaks_hz"]), after
        stats = scene.gateway.get("/call/stats", token=scene.token, params={"CallID": call_id}).json()["data"]
        outbound = stats["legs"]["whatsapp"]["outbound"]
        assert outbound["encoded"] > 50 and outbound["forwarded"] > 50
    finally:
        await browser.close()


async def test_plays_queue_in_order(scene: Scene) -> None:
    write_tone(files_dir(scene) / "q500.wav", 500, 1.0)
    write_tone(files_dir(scene) / "q1200.wav", 1200, 1.0)
    _, call_id = await active_call(scene, say="silence")
    first = (await to_thread(play, scene, call_id, "q500.wav")).json()["data"]
    second = (await to_thread(play, scene, call_id, "q1200.wav")).json()["data"]
    assert first["Queued"] == 0 and second["Queued"] == 1
    await to_thread(scene.wait_event, call_id, "CallState", 15, Event="playback_finished", PlayerID=second["PlayerID"])
    starts = [e["PlayerID"] for e in scene.events(call_id, "CallState") if e["Event"] == "playback_started"]
    assert starts == [first["PlayerID"], second["PlayerID"]]
    r = await to_thread(scene.post, "/call/play/stop", {"CallID": call_id})
    assert r.json()["data"] == {"details": "nothing was playing"}


def test_bad_audio_files_are_refused(scene: Scene, tmp_path: Path) -> None:
    root = files_dir(scene)
    outside = tmp_path / "outside.wav"
    write_tone(outside, 440, 0.5)
    link = root / "escape.wav"
    if not link.exists():
        os.symlink(outside, link)
    (root / "corrupt.mp3").write_bytes(os.urandom(4000))
    (root / "notes.txt").write_text("hello")
    wa_id = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    cases = [
        ("../outside.wav", 400, "leaves the files directory"),
        ("sub/../../outside.wav", 400, "leaves the files directory"),
        (str(outside), 400, "leaves the files directory"),
        ("escape.wav", 400, "resolves outside"),
        ("notes.txt", 400, "must end in one of"),
        ("missing.wav", 404, "no audio file"),
        ("corrupt.mp3", 400, "not a playable audio file"),
        ("", 400, "AudioFile"),
        ("a" * 300 + ".mp3", 400, "too long"),
        ("d/" * 600 + "a.mp3", 400, "at most 1024 characters"),
    ]
    for audio, status, message in cases:
        r = play(scene, call_id, audio)
        assert r.status_code == status, (audio, r.text)
        assert message in r.json()["error"], (audio, r.json())
        assert str(root.resolve()) not in r.text  # the server's own paths are nobody's business
    assert play(scene, "wacid.unknown", "corrupt.mp3").status_code == 404
    assert scene.call_status(call_id).get("Playing") is None
    assert [e for e in scene.events(call_id, "CallState") if e["Event"].startswith("playback")] == []
