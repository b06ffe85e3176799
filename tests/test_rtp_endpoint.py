"""Native RTP endpoints with real apps nobody here wrote: Debian's ffmpeg receives what the gateway sends with the SDP
it returned, and another ffmpeg sends a 660 Hz tone to LocalAddress; audio asserted by FFT. Opus must pass through
untouched (the counters say so); PCMU is transcoded at the endpoint."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import wave
from asyncio import to_thread
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver
from tests.conftest import LOG_LEVEL, RING_TIMEOUT, new_gateway
from tests.support.browser import wait_for
from tests.support.database import fresh_database
from tests.test_media_bridge import active_call, heard

ALICE, APP = 440, 660
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
RTP_IDLE = 4
needs_ffmpeg = pytest.mark.skipif(not Path(FFMPEG).exists(), reason="ffmpeg missing: make test installs it")


@pytest.fixture(scope="module")
def rtp_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A call gateway whose RTP endpoints idle out after a few seconds, on ports of their own."""
    tmp = tmp_path_factory.mktemp("rtpgw")
    settings = {"ice_hosts": "127.0.0.1", "ring_timeout": RING_TIMEOUT, "log_level": LOG_LEVEL}
    with (
        fresh_database(tmp) as url,
        new_gateway(tmp, url, rtp_idle=RTP_IDLE, rtp_ports="41000-41199", **settings) as gateway,
    ):
        yield gateway


@pytest.fixture
def rtp_scene(rtp_gateway: Gateway, emulator: Emulator, receiver: WebhookReceiver) -> Scene:
    return Scene(rtp_gateway, emulator, receiver).setup()


def free_port_pair() -> int:
    """An even UDP port whose next one is free too (where a receiving app listens for RTP and RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        port -= port % 2
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
            ):
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise AssertionError("no free UDP port pair")


def open_rtp(scene: Scene, call_id: str, **fields: Any) -> dict[str, Any]:
    r = scene.post("/call/rtp", {"CallID": call_id, **fields})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def call_stats(scene: Scene, call_id: str) -> dict[str, Any]:
    r = scene.gateway.get("/call/stats", token=scene.token, params={"CallID": call_id})
    assert r.status_code == 200, r.text
    stats: dict[str, Any] = r.json()["data"]
    return stats


def wav_peak(path: Path, skip: float = 0.5) -> tuple[float, float]:
    """The dominant frequency of a WAV (after ``skip`` seconds) and its level in dBFS."""
    with wave.open(str(path)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, channels)[:, 0]
    pcm = pcm[int(skip * rate) :].astype(np.float64)
    assert len(pcm) > rate, f"only {len(pcm) / rate:.2f} s recorded"
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    rms = float(np.sqrt(np.mean(pcm**2))) / 32768
    return float(np.argmax(spectrum) * rate / len(pcm)), 20 * np.log10(max(rms, 1e-9))


def ffmpeg(*args: str) -> subprocess.Popen[bytes]:
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "warning", *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.kill()
    _, err = process.communicate(timeout=5)
    return err.decode(errors="replace")


async def alice_hears(scene: Scene, call_id: str, hz: float) -> None:
    def check() -> bool:
        return any(abs(p - hz) <= 8 for p in heard(scene, call_id, 1.5)["peaks_hz"])

    await wait_for(check, within=10, what=f"Alice to hear {hz} Hz")


async def ffmpeg_round_trip(scene: Scene, tmp_path: Path, codec: str, encode: list[str]) -> dict[str, Any]:
    """Alice says 440 Hz; ffmpeg records what the endpoint sends while another ffmpeg sends 660 Hz."""
    _, call_id = await active_call(scene, say=f"tone:{ALICE}")
    listen_port = free_port_pair()
    rtp = await to_thread(open_rtp, scene, call_id, Codec=codec, RemoteAddress=f"127.0.0.1:{listen_port}")
    assert rtp["Codec"] == codec and rtp["Ptime"] == 20 and rtp["EndpointID"] == "rtp"
    sdp = tmp_path / "stream.sdp"
    sdp.write_text(rtp["SDP"])
    recording = tmp_path / "heard.wav"
    receiver = ffmpeg(
        "-protocol_whitelist", "file,udp,rtp", "-i", str(sdp), "-t", "4", "-ac", "1", "-y", str(recording)
    )
    sender = ffmpeg("-re", "-f", "lavfi", "-i", *encode, "-f", "rtp", f"rtp://{rtp['LocalAddress']}")
    try:
        await alice_hears(scene, call_id, APP)
        await to_thread(receiver.wait, 15)
        assert receiver.returncode == 0, stop(receiver)
        hz, level = wav_peak(recording)
        assert hz == pytest.approx(ALICE, abs=5) and level > -30, (hz, level)
        return await to_thread(call_stats, scene, call_id) | {"CallID": call_id}
    finally:
        for process in (sender, receiver):
            stop(process)


@needs_ffmpeg
async def test_ffmpeg_opus_app_hears_alice_and_alice_hears_it_with_no_codec_in_between(
    rtp_scene: Scene, tmp_path: Path
) -> None:
    tone = ["sine=frequency=660:sample_rate=48000", "-t", "12", "-ac", "1", "-c:a", "libopus", "-b:a", "32k"]
    stats = await ffmpeg_round_trip(rtp_scene, tmp_path, "opus", [*tone, "-payload_type", "111"])
    endpoint = stats["endpoints"]["rtp"]
    assert endpoint["kind"] == "rtp" and endpoint["rtp"]["received"] > 50 and endpoint["rtp"]["sent"] > 50
    # Passthrough: nothing decoded the app's Opus, nothing encoded what WhatsApp or the app hears.
    assert endpoint["inbound"]["decoded"] == 0 and endpoint["inbound"]["encoded"] == 0, endpoint
    assert endpoint["outbound"]["encoded"] == 0 and endpoint["outbound"]["decoded"] == 0, endpoint
    assert stats["legs"]["whatsapp"]["outbound"]["encoded"] == 0, stats["legs"]
    assert stats["legs"]["whatsapp"]["outbound"]["forwarded"] > 50
    assert endpoint["outbound"]["forwarded"] > 50
    assert stats["mixes"] == []


@needs_ffmpeg
async def test_ffmpeg_pcmu_app_is_transcoded_at_the_endpoint(rtp_scene: Scene, tmp_path: Path) -> None:
    tone = ["sine=frequency=660:sample_rate=8000:samples_per_frame=160", "-t", "12", "-ac", "1", "-ar", "8000"]
    stats = await ffmpeg_round_trip(rtp_scene, tmp_path, "pcmu", [*tone, "-c:a", "pcm_mulaw", "-payload_type", "0"])
    endpoint = stats["endpoints"]["rtp"]
    assert endpoint["inbound"]["decoded"] > 50 and endpoint["inbound"]["encoded"] > 50, endpoint
    assert endpoint["outbound"]["decoded"] > 50, endpoint
    assert stats["legs"]["whatsapp"]["outbound"]["encoded"] == 0  # the endpoint made the Opus; the router forwards it


async def test_closing_the_endpoint_detaches_it_and_the_call_goes_on(rtp_scene: Scene) -> None:
    _, call_id = await active_call(rtp_scene, say=f"tone:{ALICE}")
    await to_thread(open_rtp, rtp_scene, call_id, EndpointID="pbx", Codec="pcma")
    r = await to_thread(rtp_scene.post, "/call/rtp/close", {"CallID": call_id, "EndpointID": "pbx"})
    assert r.status_code == 200 and r.json()["data"] == {"CallID": call_id, "EndpointID": "pbx", "Closed": True}
    detached = await to_thread(rtp_scene.wait_event, call_id, "EndpointDetached")
    assert detached["Endpoint"]["Kind"] == "rtp" and detached["Reason"] == "closed by the app"
    r = await to_thread(rtp_scene.post, "/call/rtp/close", {"CallID": call_id, "EndpointID": "pbx"})
    assert r.status_code == 200 and r.json()["data"]["Closed"] is False
    assert (await to_thread(rtp_scene.call_status, call_id))["State"] == "active"


async def test_an_endpoint_that_hears_nothing_is_detached_after_the_idle_limit(rtp_scene: Scene) -> None:
    _, call_id = await active_call(rtp_scene, say=f"tone:{ALICE}")
    await to_thread(open_rtp, rtp_scene, call_id)
    detached = await to_thread(rtp_scene.wait_event, call_id, "EndpointDetached", RTP_IDLE + 6)
    assert detached["Endpoint"]["EndpointID"] == "rtp" and str(RTP_IDLE) in detached["Reason"], detached
    await asyncio.sleep(0)
    assert (await to_thread(rtp_scene.call_status, call_id))["State"] == "active"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"Codec": "g729"}, "unknown codec"),
        ({"RemoteAddress": "localhost:5004"}, "not an IP address"),
        ({"RemoteAddress": "127.0.0.1"}, "not host:port"),
        ({"RemoteAddress": "127.0.0.1:70000"}, "1 to 65535"),
        ({"RemoteAddress": "[::1]:5004"}, "IPv4"),
        ({"Role": "boss"}, "unknown role"),
    ],
)
async def test_bad_requests_are_refused_and_the_call_is_untouched(
    rtp_scene: Scene, fields: dict[str, Any], says: str
) -> None:
    _, call_id = await active_call(rtp_scene)
    r = await to_thread(rtp_scene.post, "/call/rtp", {"CallID": call_id, **fields})
    assert r.status_code == 400 and says in r.json()["error"], r.text
    assert (await to_thread(rtp_scene.call_status, call_id))["Endpoints"] == []
    r = await to_thread(rtp_scene.post, "/call/rtp", {"CallID": "wacid.unknown"})
    assert r.status_code == 404, r.text
