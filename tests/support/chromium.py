"""Debian's Chromium driven by Playwright, with a WAV file as its microphone (never `playwright install`)."""

from __future__ import annotations

import shutil
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from callbridge.emulator.audio import tone

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def microphone_wav(path: Path, hz: float, seconds: float = 10.0) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(tone(hz, seconds, amplitude=0.5).tobytes())
    return path


@contextmanager
def chromium(microphone: Path) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        raise RuntimeError("Debian's chromium is not installed: make test installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={microphone}"],
        )
        try:
            yield browser
        finally:
            browser.close()


# In the page: the dominant frequency of the remote audio, by a WebAudio AnalyserNode.
REMOTE_PEAK_JS = """
async () => {
  const stream = window.softphone.audio.remoteStream;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  context.createMediaStreamSource(stream).connect(analyser);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  const level = bins[best];
  await context.close();
  return { hz: best * context.sampleRate / analyser.fftSize, db: level };
}
"""

# In the page: RTP counters from getStats(), both directions, and the candidate types in use.
STATS_JS = """
async () => {
  const report = await window.softphone.audio.pc.getStats();
  const out = { received: 0, sent: 0, local: null, remote: null };
  const byId = new Map([...report.values()].map((s) => [s.id, s]));
  for (const s of report.values()) {
    if (s.type === "inbound-rtp" && s.kind === "audio") out.received = s.packetsReceived;
    if (s.type === "outbound-rtp" && s.kind === "audio") out.sent = s.packetsSent;
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      out.local = byId.get(s.localCandidateId)?.candidateType;
      out.remote = byId.get(s.remoteCandidateId)?.candidateType;
    }
  }
  return out;
}
"""
