"""One call's media: the WhatsApp leg, the browser that may come and go, playback and recording.

Opus frames go from one leg's receiver to the other leg's sender untouched. Only a recording decodes a
copy, and only playback encodes (mixing in the browser's voice while a file plays).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callbridge.errors import Conflict
from callbridge.media.browser_leg import BrowserLeg
from callbridge.media.dtmf import KeyPress
from callbridge.media.events import (
    BrowserConnected,
    BrowserGone,
    KeyPressed,
    MediaEvent,
    MediaStatus,
    MediaWarning,
    PlaybackFinished,
    PlaybackStarted,
    PlayingStatus,
    RecordingFinished,
    RecordingInfo,
    RecordingStarted,
    RecordingStatus,
    TrackInfo,
)
from callbridge.media.ice import IceSettings
from callbridge.media.opus import OpusFrame
from callbridge.media.player import Playlist, Track
from callbridge.media.recorder import Recorder
from callbridge.media.whatsapp_leg import WhatsAppLeg
from callbridge.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Report = Callable[[MediaEvent], Coroutine[Any, Any, None]]


class CallMedia:
    def __init__(self, whatsapp: WhatsAppLeg, ice: IceSettings, report: Report) -> None:
        self.whatsapp = whatsapp
        self.ice = ice
        self.report = report
        self.browser: BrowserLeg | None = None
        self.browser_connected = False
        self.playlist = Playlist(self._playback_started, self._playback_finished)
        self.recorder: Recorder | None = None
        self.recording: RecordingInfo | None = None
        self._tasks = BackgroundTasks()
        self._meters = 0
        self.warnings: list[str] = [whatsapp.ice_warning] if whatsapp.ice_warning else []
        whatsapp.inbound.sinks.append(self._from_whatsapp)
        whatsapp.inbound.on_key = self._key_pressed

    # ---- the bridge --------------------------------------------------------------------------------------------

    def _from_whatsapp(self, frame: OpusFrame) -> None:
        if self.browser is not None:
            self.browser.outgoing.push(frame)
        if self.recorder is not None:
            self.recorder.whatsapp.hear(frame)

    def _key_pressed(self, key: KeyPress) -> None:
        self._tasks.spawn(self.report(KeyPressed(key.digit, key.duration_ms)))

    def _from_browser(self, frame: OpusFrame) -> None:
        self.whatsapp.outgoing.push(frame)  # mixed instead while a file plays
        if self.recorder is not None and self.recorder.browser is not None:
            self.recorder.browser.hear(frame)

    # ---- the browser -------------------------------------------------------------------------------------------

    async def attach_browser(self, offer_sdp: str) -> str:
        """Answer a browser's offer. A browser already attached is replaced (a reload, a second tab)."""
        leg = BrowserLeg(self.ice, user="browser-leg")
        try:
            answer = await leg.answer(offer_sdp)
        except BaseException:
            await leg.close()
            raise
        previous, self.browser, self.browser_connected = self.browser, leg, False
        leg.inbound.sinks.append(self._from_browser)
        leg.inbound.decode_levels = self._meters > 0
        leg.on_lost = lambda state: self._browser_lost(leg, state)
        leg.pc.on("connectionstatechange", lambda: self._browser_state(leg))
        if previous is not None:
            await previous.close()
            await self.report(BrowserGone("replaced by a new browser connection"))
        return answer

    async def detach_browser(self, reason: str) -> bool:
        leg, self.browser, self.browser_connected = self.browser, None, False
        if leg is None:
            return False
        await leg.close()
        await self.report(BrowserGone(reason))
        return True

    def _browser_state(self, leg: BrowserLeg) -> None:
        if leg is self.browser and leg.state == "connected" and not self.browser_connected:
            self.browser_connected = True
            self._tasks.spawn(self.report(BrowserConnected()))

    async def _browser_lost(self, leg: BrowserLeg, state: str) -> None:
        if leg is self.browser:
            await self.detach_browser(f"the browser went away without closing (connection {state})")

    # ---- playback ----------------------------------------------------------------------------------------------

    async def play(self, path: Path, name: str) -> tuple[TrackInfo, int]:
        """Queue a file; returns it (with its length) and how many files play before it."""
        track = await asyncio.to_thread(Track.open, path, name)
        ahead = len(self.playlist.queue) + (self.playlist.current is not None)
        self.playlist.add(track)
        if self.whatsapp.outgoing.source is not self.playlist:
            self.whatsapp.outgoing.speak(self.playlist)
        return _info(track), ahead

    def stop_playback(self) -> bool:
        playing = self.playlist.current is not None or bool(self.playlist.queue)
        self.playlist.stop()
        return playing

    def _playback_started(self, track: Track) -> None:
        self._tasks.spawn(self.report(PlaybackStarted(_info(track))))

    def _playback_finished(self, track: Track, stopped: bool) -> None:
        self._tasks.spawn(self.report(PlaybackFinished(_info(track), stopped)))

    # ---- recording ---------------------------------------------------------------------------------------------

    async def start_recording(self, path: Path, name: str, rate: int, stereo: bool) -> RecordingInfo:
        if self.recorder is not None or self.recording is not None:
            raise Conflict("the call is already being recorded; stop that recording first")
        self.recorder = Recorder(path, rate=rate, stereo=stereo)
        self.recording = RecordingInfo(name, rate, stereo, datetime.now(UTC))
        await self.report(RecordingStarted(self.recording))
        return self.recording

    async def stop_recording(self) -> tuple[RecordingInfo, float] | None:
        recorder, recording = self.recorder, self.recording
        if recorder is None or recording is None:
            return None
        self.recorder = self.recording = None
        seconds = await recorder.stop()
        await self.report(RecordingFinished(recording, seconds))
        return recording, seconds

    # ---- the whole -----------------------------------------------------------------------------------------------

    def meter(self, watching: bool) -> None:
        """Someone watches levels (a page's event stream): measure them even where senders do not report them."""
        self._meters += 1 if watching else -1
        for leg in (self.whatsapp, self.browser):
            if leg is not None:
                leg.inbound.decode_levels = self._meters > 0

    def levels(self) -> dict[str, float | None]:
        """dBov (0 loudest, -127 silent) of what each side is saying now."""
        return {
            "whatsapp": self.whatsapp.inbound.level,
            "browser": self.browser.inbound.level if self.browser is not None and self.browser_connected else None,
        }

    def status(self) -> MediaStatus:
        recording = playing = None
        if self.recorder is not None and self.recording is not None:
            recording = RecordingStatus(self.recording, self.recorder.elapsed)
        if (current := self.playlist.current) is not None:
            playing = PlayingStatus(_info(current), len(self.playlist.queue), self.playlist.position)
        return MediaStatus(self.browser_connected, tuple(self.warnings), recording, playing)

    async def warn(self, detail: str) -> None:
        await self.report(MediaWarning(detail))

    def stats(self) -> dict[str, Any]:
        legs = {"whatsapp": self.whatsapp, "browser": self.browser}
        return {
            name: {
                "state": leg.state,
                "inbound": {**leg.inbound.buffer.stats.as_dict(), "decoded": leg.inbound.decoded},
                "outbound": dict(leg.outgoing.counts),
            }
            for name, leg in legs.items()
            if leg is not None
        }

    async def close(self) -> None:
        """At the end of the call: finish the recording and the playback, drop the browser."""
        await self.stop_recording()
        self.stop_playback()
        await self.detach_browser("the call ended")
        await self._tasks.settle(within=2)


def _info(track: Track) -> TrackInfo:
    return TrackInfo(track.id, track.name, track.seconds)
