"""Recording a call to WAV: length equals wall time, the tone is there, sides are right, crashes leave a file."""

from __future__ import annotations

import asyncio
import time
import wave
from asyncio import to_thread
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from callbridge.emulator.audio import analyse
from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import EmulatorProcess, Scene
from tests.support.receiver import Receiver
from tests.test_media_bridge import active_call, heard


def read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return rate, channels, samples.reshape(-1, channels)


async def timed_recording(scene: Scene, call_id: str, seconds: float, **body: object) -> tuple[dict, float, float]:
    """Record for ``seconds`` between the start's answer and the stop's request. Returns the stop's data and
    the bounds of the time the server can have recorded: from the start's request to the stop's answer at
    most, from the start's answer to the stop's request at least."""
    async with httpx.AsyncClient(base_url=scene.gateway.url, headers={"token": scene.token}, trust_env=False) as http:
        t0 = time.monotonic()
        r = await http.post("/call/record", json={"CallID": call_id, **body})
        t0_answered = time.monotonic()
        assert r.status_code == 200, r.text
        await asyncio.sleep(seconds - (time.monotonic() - t0_answered))
        t1 = time.monotonic()
        r = await http.post("/call/record/stop", json={"CallID": call_id})
        t1_answered = time.monotonic()
        assert r.status_code == 200, r.text
    return r.json()["data"], t1 - t0_answered, t1_answered - t0


async def test_five_seconds_of_440_hz(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    await asyncio.sleep(0.5)
    data, shortest, longest = await timed_recording(scene, call_id, 5.0)
    seconds = data["Seconds"]
    # The WAV lasts the time it was recorded, to within 40 ms; that time is 5 s give or take the requests.
    assert shortest - 0.04 <= seconds <= longest + 0.04, (shortest, seconds, longest)
    assert seconds == pytest.approx(5.0, abs=0.04 + (longest - shortest))
    started = await to_thread(scene.wait_event, call_id, "CallState", Event="recording_started")
    assert started["Recording"]["Path"] == f"files/calls/{call_id}.wav" and started["SampleRate"] == 48000

    rate, channels, samples = read_wav(scene.gateway.workdir / "files" / "calls" / f"{call_id}.wav")
    assert (rate, channels) == (48000, 1)
    assert len(samples) / rate == pytest.approx(seconds, abs=0.01)  # the file is as long as reported (above)
    report = analyse(samples[:, 0], rate)
    assert report["dominant_hz"] == pytest.approx(440, abs=5) and report["rms_dbfs"] > -30
    finished = await to_thread(scene.wait_event, call_id, "CallState", Event="recording_finished")
    assert finished["Seconds"] == seconds and finished["Path"] == f"files/calls/{call_id}.wav"


async def test_stereo_puts_whatsapp_left_and_the_browser_right_at_16_khz(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    browser = PyBrowser(say_hz=660)
    try:
        assert (await browser.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await wait_for(lambda: heard(scene, call_id, 1)["dominant_hz"] == pytest.approx(660, abs=5), what="voice")
        body = {"CallID": call_id, "Path": "files/stereo/both.wav", "Stereo": True, "SampleRate": 16000}
        assert (await to_thread(scene.post, "/call/record", body)).status_code == 200
        await asyncio.sleep(3)
        r = await to_thread(scene.post, "/call/record/stop", {"CallID": call_id})
        assert r.json()["data"]["Path"] == "files/stereo/both.wav"  # WaGo's form: files/ is the files dir
    finally:
        await browser.close()
    rate, channels, samples = read_wav(scene.gateway.workdir / "files" / "stereo" / "both.wav")
    assert (rate, channels) == (16000, 2)
    assert len(samples) / rate == pytest.approx(r.json()["data"]["Seconds"], abs=0.01)
    assert analyse(samples[:, 0], rate)["dominant_hz"] == pytest.approx(440, abs=5)
    assert analyse(samples[:, 1], rate)["dominant_hz"] == pytest.approx(660, abs=5)


async def test_gaps_are_silence_so_the_length_is_wall_time(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440", loss=0.3)
    data, shortest, longest = await timed_recording(scene, call_id, 3.0, Path="lossy.wav")
    assert shortest - 0.04 <= data["Seconds"] <= longest + 0.04, (shortest, data, longest)


async def test_the_end_of_the_call_finishes_the_recording(scene: Scene) -> None:
    _, call_id = await active_call(scene, say="tone:440")
    assert (await to_thread(scene.post, "/call/record", {"CallID": call_id, "Path": "ends.wav"})).status_code == 200
    await asyncio.sleep(1.5)
    await to_thread(scene.post, "/call/end", {"CallID": call_id})
    finished = await to_thread(scene.wait_event, call_id, "CallState", Event="recording_finished")
    assert finished["Seconds"] == pytest.approx(1.5, abs=0.3)
    rate, _, samples = read_wav(scene.gateway.workdir / "files" / "ends.wav")
    assert len(samples) / rate == pytest.approx(finished["Seconds"], abs=0.01)


def test_a_gateway_killed_mid_recording_leaves_a_valid_wav(
    start_gateway,
    emulator: EmulatorProcess,
    receiver: Receiver,
) -> None:
    gateway = start_gateway(ice_hosts="127.0.0.1")
    scene = Scene(gateway, emulator, receiver).setup()
    wa_id = scene.user(answer_after_ms=0, say="tone:440")
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    assert scene.post("/call/record", {"CallID": call_id, "Path": "crash.wav"}).status_code == 200
    time.sleep(3.5)
    gateway.kill()  # SIGKILL: no shutdown, no final header write
    rate, channels, samples = read_wav(gateway.workdir / "files" / "crash.wav")
    assert (rate, channels) == (48000, 1)
    assert 2.0 <= len(samples) / rate <= 3.6
    assert analyse(samples[:, 0], rate)["dominant_hz"] == pytest.approx(440, abs=5)


def test_bad_recording_requests_write_nothing(scene: Scene, tmp_path: Path) -> None:
    root = scene.gateway.workdir / "files"
    root.mkdir(exist_ok=True)
    wa_id = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    outside = tmp_path / "out"
    outside.mkdir()
    link = root / "linkdir"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    (root / "taken.wav").write_bytes(b"")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"Path": "../escape.wav"}, 400, "leaves the files directory"),
        ({"Path": str(tmp_path / "abs.wav")}, 400, "leaves the files directory"),
        ({"Path": "linkdir/x.wav"}, 400, "resolves outside"),
        ({"Path": "notes.mp3"}, 400, "must end in one of .wav"),
        ({"Path": "taken.wav"}, 409, "already exists"),
        ({"Path": "taken.wav/under.wav"}, 400, "a part of its directory is a file"),
        ({"Path": "x" * 300 + ".wav"}, 400, "too long"),
        ({"SampleRate": 22050}, 400, "invalid SampleRate"),
        ({"Stereo": "sideways"}, 400, "invalid Stereo"),
    ]
    for extra, status, message in cases:
        r = scene.post("/call/record", {"CallID": call_id, **extra})
        assert r.status_code == status, (extra, r.text)
        assert message in r.json()["error"], (extra, r.json())
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "abs.wav").exists() and not (root.parent / "escape.wav").exists()
    assert scene.post("/call/record/stop", {"CallID": call_id}).status_code == 409
    assert scene.post("/call/record", {"CallID": call_id, "Path": "once.wav"}).status_code == 200
    r = scene.post("/call/record", {"CallID": call_id, "Path": "twice.wav"})
    assert r.status_code == 409 and "already being recorded" in r.json()["error"]
    assert not (root / "twice.wav").exists()
    assert scene.post("/call/record/stop", {"CallID": call_id}).status_code == 200
    assert scene.post("/call/record", {"CallID": "wacid.none"}).status_code == 404


def test_the_file_lands_where_the_reported_path_says(scene: Scene) -> None:
    """WaGo's files/ prefix names the files directory once: a folder that is itself named files/ stays one."""
    wa_id = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    r = scene.post("/call/record", {"CallID": call_id, "Path": "files/files/nested.wav"})
    assert r.status_code == 200 and r.json()["data"]["Path"] == "files/files/nested.wav", r.text
    stopped = scene.post("/call/record/stop", {"CallID": call_id}).json()["data"]
    assert stopped["Path"] == "files/files/nested.wav"
    assert (scene.gateway.workdir / "files" / "files" / "nested.wav").is_file()
    assert not (scene.gateway.workdir / "files" / "nested.wav").exists()
    # WaGo's own example, "Path": "files/calls/CALL_ID.wav": the files directory's calls/, reported as given.
    wago = f"files/calls/{call_id}.wav"
    r = scene.post("/call/record", {"CallID": call_id, "Path": wago})
    assert r.status_code == 200 and r.json()["data"]["Path"] == wago, r.text
    assert scene.post("/call/record/stop", {"CallID": call_id}).json()["data"]["Path"] == wago
    assert (scene.gateway.workdir / "files" / "calls" / f"{call_id}.wav").is_file()
    assert not (scene.gateway.workdir / "files" / "files" / "calls").exists()
    scene.post("/call/end", {"CallID": call_id})
