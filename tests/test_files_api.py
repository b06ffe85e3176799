"""The Files API on a real gateway: the playable files and a recording made through a real call are listed,
downloaded whole and by Range (as an audio player seeks), deleted; names that leave the files directory are
refused with nothing touched, and one session never sees another's recordings."""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from callbridge.testing import Emulator, Gateway, Scene
from tests.support.audio_files import write_tone


@dataclass
class Setup:
    gateway: Gateway
    owner: Scene  # made the recording
    other: Scene  # another session on the same gateway
    call_id: str
    recording: str  # its name relative to the files dir
    seconds: float  # as /call/record/stop reported them
    outside: Path  # a file beside the files dir, which no request may reach

    @property
    def root(self) -> Path:
        return self.gateway.workdir / "files"

    def get(self, path: str, scene: Scene | None = None, **kwargs: Any) -> httpx.Response:
        return self.gateway.get(path, token=(scene or self.owner).token, **kwargs)

    def delete(self, path: str, scene: Scene | None = None) -> httpx.Response:
        return self.gateway.client.request("DELETE", path, headers={"token": (scene or self.owner).token})

    def listing(self, scene: Scene | None = None, **params: str) -> list[dict]:
        r = self.get("/files", scene, params=params)
        assert r.status_code == 200, r.text
        return r.json()["data"]["files"]


@pytest.fixture(scope="module")
def setup(call_gateway: Gateway, emulator: Emulator) -> Iterator[Setup]:
    root = call_gateway.workdir / "files"
    (root / "tones").mkdir(parents=True, exist_ok=True)
    write_tone(root / "tones" / "a440.wav", 440, 2.0)
    write_tone(root / "b.mp3", 440, 1.0)
    write_tone(root / "c.opus", 440, 1.5)
    (root / "notes.txt").write_text("not audio")
    outside = call_gateway.workdir / "outside.wav"
    write_tone(outside, 440, 0.5)
    (root / "linkout.wav").symlink_to(outside)
    (root / "linkdir").symlink_to(call_gateway.workdir, target_is_directory=True)

    owner, other = Scene(call_gateway, emulator).setup(), Scene(call_gateway, emulator).setup()
    call_id = owner.make_call(owner.user(answer_after_ms=0, say="tone:440"))
    owner.wait_state(call_id, "active")
    recording = f"calls/{call_id}.wav"
    r = owner.post("/call/record", {"CallID": call_id})
    assert r.status_code == 200, r.text
    time.sleep(1.5)
    # While it is being written, it cannot be deleted.
    busy = call_gateway.client.request("DELETE", f"/files/{recording}", headers={"token": owner.token})
    assert busy.status_code == 409 and "being recorded" in busy.json()["error"], busy.text
    stopped = owner.post("/call/record/stop", {"CallID": call_id})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["data"]["Path"] == f"files/{recording}"
    owner.post("/call/end", {"CallID": call_id})
    owner.wait_state(call_id, "ended")
    yield Setup(call_gateway, owner, other, call_id, recording, stopped.json()["data"]["Seconds"], outside)


def test_audio_lists_the_playable_files_under_the_files_dir(setup: Setup) -> None:
    files = {f["Name"]: f for f in setup.listing()}
    assert {"tones/a440.wav", "b.mp3", "c.opus", setup.recording} <= set(files)
    assert not {"notes.txt", "linkout.wav"} & set(files)  # not audio; a link out of the files dir
    assert not any(name.startswith("linkdir/") for name in files)  # a linked folder is not entered
    assert [f["Name"] for f in setup.listing()] == sorted(files)
    tone = files["tones/a440.wav"]
    assert tone["Size"] == (setup.root / "tones" / "a440.wav").stat().st_size
    assert tone["Seconds"] == pytest.approx(2.0, abs=0.01)
    assert files["b.mp3"]["Seconds"] == pytest.approx(1.0, abs=0.1)
    assert files["c.opus"]["Seconds"] == pytest.approx(1.5, abs=0.1)
    modified = datetime.fromisoformat(tone["Modified"])
    assert modified.tzinfo is not None and abs(modified.timestamp() - time.time()) < 600
    assert "CallID" not in tone
    # Kind=audio is the default; the parameter and its value match case-insensitively.
    assert setup.listing(Kind="audio") == setup.listing(kind="AUDIO") == setup.listing()
    r = setup.get("/files", params={"Kind": "videos"})
    assert r.status_code == 400 and "unknown Kind" in r.json()["error"]


def test_recordings_lists_this_sessions_recordings_only(setup: Setup) -> None:
    [recording] = setup.listing(Kind="Recordings")
    assert recording["Name"] == setup.recording and recording["CallID"] == setup.call_id
    assert recording["Incomplete"] is False
    assert recording["Seconds"] == setup.seconds
    with wave.open(str(setup.root / setup.recording)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(setup.seconds, abs=0.01)
    # Another session neither lists it (either kind), nor downloads nor deletes it.
    assert setup.listing(setup.other, Kind="recordings") == []
    assert setup.recording not in {f["Name"] for f in setup.listing(setup.other)}
    assert setup.get(f"/files/{setup.recording}", setup.other).status_code == 404
    assert setup.delete(f"/files/{setup.recording}", setup.other).status_code == 404
    assert (setup.root / setup.recording).exists()


def test_download_whole_and_by_range(setup: Setup) -> None:
    data = (setup.root / "tones" / "a440.wav").read_bytes()
    whole = setup.get("/files/tones/a440.wav")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/wav" and whole.headers["accept-ranges"] == "bytes"
    part = setup.get("/files/tones/a440.wav", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.content == data[1000:2000]
    tail = setup.get("/files/tones/a440.wav", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    # WaGo's files/ prefix names the files dir, as in AudioFile; ?token= is for an <audio src>.
    assert setup.get("/files/files/b.mp3").headers["content-type"] == "audio/mpeg"
    by_query = setup.gateway.client.get("/files/c.opus", params={"token": setup.owner.token})
    assert by_query.status_code == 200 and by_query.headers["content-type"] == "audio/ogg"
    assert by_query.content == (setup.root / "c.opus").read_bytes()
    # The recording, to its owner.
    assert setup.get(f"/files/{setup.recording}").content == (setup.root / setup.recording).read_bytes()


def test_delete_a_file_and_a_recording(setup: Setup) -> None:
    write_tone(setup.root / "tones" / "gone.wav", 440, 0.2)
    r = setup.delete("/files/tones/gone.wav")
    assert r.status_code == 200 and r.json()["data"] == {"Name": "tones/gone.wav", "Recording": False}
    assert not (setup.root / "tones" / "gone.wav").exists()
    assert setup.get("/files/tones/gone.wav").status_code == 404
    assert setup.delete("/files/tones/gone.wav").status_code == 404

    r = setup.delete(f"/files/{setup.recording}")
    assert r.status_code == 200 and r.json()["data"] == {"Name": setup.recording, "Recording": True}
    assert not (setup.root / setup.recording).exists()
    assert setup.listing(Kind="recordings") == []
    assert setup.owner.call_status(setup.call_id)["State"] == "ended"  # the call's record stays


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/files/%2e%2e/outside.wav", "leaves the files directory"),
        ("/files/tones/..%2F..%2Foutside.wav", "leaves the files directory"),
        ("/files/%2Fetc%2Fpasswd.wav", "leaves the files directory"),
        ("/files//tmp/x.wav", "leaves the files directory"),
        ("/files/linkout.wav", "resolves outside"),
        ("/files/linkdir/outside.wav", "resolves outside"),
        ("/files/x%00.wav", "relative path under the files directory"),
        ("/files/notes.txt", "must end in one of"),
    ],
)
def test_names_that_leave_the_files_dir_are_refused_and_nothing_is_touched(
    setup: Setup, path: str, message: str
) -> None:
    before = setup.outside.read_bytes()
    for method in ("GET", "DELETE"):
        r = setup.gateway.client.request(method, path, headers={"token": setup.owner.token})
        assert r.status_code == 400, (method, path, r.text)
        assert message in r.json()["error"], (method, path, r.json())
    assert setup.outside.read_bytes() == before
    assert (setup.root / "linkout.wav").is_symlink() and (setup.root / "notes.txt").exists()


def test_unknown_files_and_wrong_tokens(setup: Setup) -> None:
    assert setup.get("/files/nothing-here.wav").status_code == 404
    assert setup.delete("/files/tones/none.mp3").status_code == 404
    for path in ("/files", "/files/b.mp3"):
        for headers in ({}, {"token": "wrong"}):
            r = setup.gateway.client.get(path, headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "invalid token", (path, headers)
    r = setup.gateway.client.request("DELETE", "/files/b.mp3", headers={"token": "wrong"})
    assert r.status_code == 401
    assert (setup.root / "b.mp3").exists()
