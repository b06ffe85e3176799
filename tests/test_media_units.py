"""The media building blocks on their own: jitter buffer, outbound timeline, WAV writer, level, paths."""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path

import numpy as np
import pytest
from aiortc.rtp import compute_audio_level_dbov as aiortc_level
from av import AudioFrame, Packet

from callbridge.errors import Conflict, InvalidRequest, NotFound
from callbridge.files import as_wago, audio_file, in_files_dir, new_recording
from callbridge.media.aiortc_fixes import compute_audio_level_dbov
from callbridge.media.jitter import JitterBuffer
from callbridge.media.opus import SILENCE, OpusFrame
from callbridge.media.outbound import OutboundAudio
from callbridge.media.wav import WavWriter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frames(seqs: list[int]) -> list[tuple[int, OpusFrame]]:
    return [(s & 0xFFFF, OpusFrame(s * 960, bytes([s % 256]))) for s in seqs]


async def test_in_order_frames_pass_straight_through() -> None:
    out: list[OpusFrame] = []
    buffer = JitterBuffer(out.append, clock=Clock())
    for seq, frame in frames(list(range(10))):
        buffer.add(seq, frame)
        assert out[-1] is frame  # released the moment it arrives
    assert buffer.stats.as_dict()["hold_max_ms"] == 0 and buffer.stats.lost == 0


async def test_reordered_frames_are_put_back_in_order() -> None:
    out: list[OpusFrame] = []
    clock = Clock()
    buffer = JitterBuffer(out.append, clock=clock)
    for seq, frame in frames([0, 2, 1, 3]):
        buffer.add(seq, frame)
        clock.now += 0.005
    assert [f.timestamp // 960 for f in out] == [0, 1, 2, 3]
    assert buffer.stats.reordered == 1 and buffer.stats.lost == 0


async def test_a_lost_frame_is_skipped_after_the_timeout_and_the_buffer_does_not_stay_deep() -> None:
    out: list[OpusFrame] = []
    buffer = JitterBuffer(out.append, loss_timeout=0.02)
    seqs = [s for s in range(200) if s % 50 != 7]  # 4 losses
    for seq, frame in frames(seqs):
        buffer.add(seq, frame)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)
    assert [f.timestamp // 960 for f in out] == seqs
    stats = buffer.stats.as_dict()
    assert stats["lost"] == 4 and stats["late"] == 0
    assert stats["hold_max_ms"] < 40
    assert stats["depth_max"] <= 12  # 20 ms of 2 ms-spaced packets while waiting, never more
    buffer.add(7, OpusFrame(7 * 960, b"late"))
    assert buffer.stats.late == 1 and len(out) == len(seqs)


async def test_sequence_numbers_wrap() -> None:
    out: list[OpusFrame] = []
    buffer = JitterBuffer(out.append, clock=Clock())
    for seq, frame in frames(list(range(65530, 65546))):
        buffer.add(seq, frame)
    assert len(out) == 16 and buffer.stats.lost == 0


def pts(packet: Packet) -> int:
    assert packet.pts is not None
    return int(packet.pts)


async def test_outbound_timeline_is_continuous_across_sources() -> None:
    track = OutboundAudio()
    first = await track.recv()  # nothing to forward yet: silence
    assert bytes(first) == SILENCE
    for n in range(3):
        track.push(OpusFrame(5_000_000 + n * 960, b"voice"))
    forwarded = [await track.recv() for _ in range(3)]
    assert [pts(p) for p in forwarded] == [pts(first) + 960 * (k + 1) for k in range(3)]
    track.push(OpusFrame(5_000_000 + 4 * 960, b"voice"))  # one frame lost upstream: the gap is kept
    assert pts(await track.recv()) == pts(forwarded[-1]) + 1920
    # A new source (another browser) with unrelated timestamps continues the timeline, never going back.
    last = pts(forwarded[-1]) + 1920
    track.push(OpusFrame(12345, b"other"))
    assert pts(await track.recv()) > last
    track.stop()


def test_wav_header_is_true_after_every_sync(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "a.wav", 16000, 2)
    writer.write(np.zeros((16000, 2), dtype=np.int16))
    writer.sync()
    with wave.open(str(tmp_path / "a.wav")) as wav:  # readable while still open for writing
        assert (wav.getnframes(), wav.getnchannels(), wav.getframerate()) == (16000, 2, 16000)
    writer.write(np.ones((8000, 2), dtype=np.int16))
    writer.close()
    with wave.open(str(tmp_path / "a.wav")) as wav:
        assert wav.getnframes() == 24000


def frame_of(samples: np.ndarray, layout: str) -> AudioFrame:
    frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = 48000
    return frame


def test_numpy_audio_level_matches_aiortc_and_fixes_stereo() -> None:
    t = np.arange(960) / 48000
    for amplitude in (0.5, 0.05, 0.001):
        mono = (np.sin(2 * np.pi * 440 * t) * amplitude * 32767).astype(np.int16)
        assert compute_audio_level_dbov(frame_of(mono, "mono")) == aiortc_level(frame_of(mono, "mono"))
        stereo = np.repeat(mono, 2)
        # The same signal on both channels has the same level (aiortc's loop miscounts stereo samples).
        assert compute_audio_level_dbov(frame_of(stereo, "stereo")) == compute_audio_level_dbov(frame_of(mono, "mono"))
    assert compute_audio_level_dbov(frame_of(np.zeros(960, np.int16), "mono")) == -127


def test_paths_stay_in_the_files_directory(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "a.wav").write_bytes(b"x")
    (tmp_path / "secret.wav").write_bytes(b"x")
    os.symlink(tmp_path / "secret.wav", root / "link.wav")
    assert audio_file(root, "a.wav") == (root / "a.wav").resolve()
    for bad in ("../secret.wav", "/etc/x.wav", "link.wav", "a\x00.wav", "dir\\..\\a.wav", "a.exe", ""):
        with pytest.raises(InvalidRequest):
            audio_file(root, bad)
    with pytest.raises(NotFound):
        audio_file(root, "missing.mp3")
    assert new_recording(root, "deep/er/r.wav").parent.is_dir()
    with pytest.raises(Conflict):
        new_recording(root, "a.wav")


def test_wagos_files_prefix_names_the_files_directory_once(tmp_path: Path) -> None:
    """The file lands where the reported path says, also for a folder that is itself named files/."""
    for requested, under in (("files/a.wav", "a.wav"), ("a.wav", "a.wav"), ("files/files/b.wav", "files/b.wav")):
        assert new_recording(tmp_path, requested) == (tmp_path / under).resolve()
        assert as_wago(in_files_dir(requested)) == f"files/{under}"
