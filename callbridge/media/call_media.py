"""One call's media: the WhatsApp leg, the endpoints that come and go, playback, hold, transfer and recording.

What goes where is decided by media/routing.py and carried out by media/router.py; this module keeps the call's
members and tells the router whenever something changes. With one talker and nothing playing, Opus frames
pass between the WhatsApp leg and the talker untouched, as they always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from callbridge.errors import Conflict, NotFound
from callbridge.media.call_recording import CallRecording
from callbridge.media.dtmf import KeyPress
from callbridge.media.endpoint import DEFAULT_ID, Endpoint, Role
from callbridge.media.events import (
    BrowserConnected,
    BrowserGone,
    EndpointAttached,
    EndpointDetached,
    EndpointInfo,
    HoldChanged,
    KeyPressed,
    MediaEvent,
    MediaStatus,
    MediaWarning,
    PlaybackFinished,
    PlaybackStarted,
    PlayingStatus,
    RecordingInfo,
    RecordingStatus,
    TrackInfo,
)
from callbridge.media.ice import IceSettings
from callbridge.media.player import Loop, Playlist, Track
from callbridge.media.quality import LegSummary, leg_closed, summarize
from callbridge.media.router import Router
from callbridge.media.routing import HOLD, PLAYBACK, WHATSAPP, Member, Scene, route
from callbridge.media.webrtc_endpoint import WebRtcEndpoint
from callbridge.media.whatsapp_leg import WhatsAppLeg
from callbridge.tasks import BackgroundTasks

log = logging.getLogger(__name__)

Report = Callable[[MediaEvent], Coroutine[Any, Any, None]]

WATCH_EVERY = 1.0


class CallMedia:
    def __init__(self, whatsapp: WhatsAppLeg, ice: IceSettings, report: Report, max_endpoints: int = 8) -> None:
        self.whatsapp = whatsapp
        self.ice = ice
        self.report = report
        self.max_endpoints = max_endpoints
        self.endpoints: dict[str, Endpoint] = {}
        self.router = Router()
        self.playlist = Playlist(self._playback_started, self._playback_finished)
        self.recording = CallRecording(self.playlist, report, self._reroute)
        self.held = False
        self.transferring = False
        self.generation = 0  # blind transfers so far: call tokens minted before the last one are retired
        self.closed = False
        self._hold: Loop | None = None
        self._dirty = False
        self._tasks = BackgroundTasks()
        self._watch: asyncio.Task[None] | None = None
        self._meters = 0
        self.warnings: list[str] = [whatsapp.ice_warning] if whatsapp.ice_warning else []
        self.router.listen(WHATSAPP, whatsapp.inbound)
        self.router.on_tick = self._after_tick
        whatsapp.inbound.on_key = self._key_pressed
        self._reroute()

    @property
    def browser_connected(self) -> bool:
        return any(e.kind == WebRtcEndpoint.kind and e.connected for e in self.endpoints.values())

    # ---- routing -------------------------------------------------------------------------------------------------

    def _reroute(self) -> None:
        """Tell the router who hears whom now."""
        self._dirty = False
        connected = [e for e in self.endpoints.values() if e.connected]
        scene = Scene(
            members=[Member(_key(e.id), e.role) for e in connected],
            playing=self.playlist.busy,
            playback_to_all=self.playlist.to_all,
            hold_audio=self._hold is not None and (self.held or self.transferring),
            held=self.held,
            recording=(recorder := self.recording.recorder) is not None,
            recording_stereo=recorder is not None and recorder.stereo,
        )
        self.router.made = {PLAYBACK: self.playlist.read}
        if self._hold is not None:
            self.router.made[HOLD] = self._hold.read
        self.router.recorder = self.recording.recorder
        outputs = {WHATSAPP: self.whatsapp.outgoing, **{_key(e.id): e.outgoing for e in connected}}
        self.router.apply(route(scene), outputs)

    def _after_tick(self) -> None:
        if self._dirty:  # a file started or finished during the tick
            self._reroute()

    def _key_pressed(self, key: KeyPress) -> None:
        for endpoint in list(self.endpoints.values()):
            endpoint.key_pressed(key.digit, key.duration_ms)
        self._tasks.spawn(self.report(KeyPressed(key.digit, key.duration_ms)))

    # ---- endpoints ---------------------------------------------------------------------------------------------

    async def attach_webrtc(self, offer_sdp: str, endpoint_id: str = DEFAULT_ID, role: Role = Role.TALK) -> str:
        """Answer an endpoint's offer. An endpoint already attached under that id is replaced (a page reload)."""
        self.make_room(endpoint_id)
        endpoint = WebRtcEndpoint(endpoint_id, role, self.ice)
        try:
            answer = await endpoint.answer(offer_sdp)
        except BaseException:
            await endpoint.close()
            raise
        await self.attach(endpoint)
        return answer

    def make_room(self, endpoint_id: str) -> None:
        """Refuse a new endpoint over the limit (replacing one is not adding one), before anything is set up."""
        if endpoint_id not in self.endpoints and len(self.endpoints) >= self.max_endpoints:
            raise Conflict(f"the call already has {self.max_endpoints} endpoints (CALLBRIDGE_MAX_ENDPOINTS)")

    async def attach(self, endpoint: Endpoint) -> None:
        """Add a ready endpoint (any kind), replacing one with the same id. It is routed once it connects: it
        calls ``on_connected`` then (at once, if it needs no handshake)."""
        self.make_room(endpoint.id)
        if (previous := self.endpoints.get(endpoint.id)) is not None:
            await self._remove(previous, "replaced by a new connection")
        self.endpoints[endpoint.id] = endpoint
        self.router.listen(_key(endpoint.id), endpoint.inbound)
        endpoint.inbound.decode_levels = self._meters > 0
        endpoint.on_connected = self._connected
        endpoint.on_gone = self._gone
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_endpoints(), name="endpoint watch")
        if endpoint.connected:
            self._connected(endpoint)

    async def detach(self, endpoint_id: str, reason: str) -> bool:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            return False
        await self._remove(endpoint, reason)
        return True

    async def detach_browser(self, reason: str) -> bool:
        """WaGo's /call/webrtc/close: the default endpoint."""
        return await self.detach(DEFAULT_ID, reason)

    async def _remove(self, endpoint: Endpoint, reason: str) -> None:
        if self.endpoints.get(endpoint.id) is endpoint:
            del self.endpoints[endpoint.id]
            leg_closed(_summary(endpoint.kind, endpoint))  # with no await since leaving endpoints: counted once
        await endpoint.close()
        self._reroute()
        await self.report(EndpointDetached(_info(endpoint, "closed"), reason))
        if _is_agent_browser(endpoint):  # WaGo's event, about the agent's page as before endpoints
            await self.report(BrowserGone(_browser_reason(reason)))

    def _connected(self, endpoint: Endpoint) -> None:
        if self.endpoints.get(endpoint.id) is not endpoint:
            return
        if endpoint.role is Role.TALK and self.transferring:
            self.transferring = False  # the next agent is here: the caller stops hearing hold audio
            if not self.held:
                self._hold = None
        self._reroute()
        self._tasks.spawn(self._report_connected(endpoint))

    async def _report_connected(self, endpoint: Endpoint) -> None:
        await self.report(EndpointAttached(_info(endpoint)))
        if _is_agent_browser(endpoint):
            await self.report(BrowserConnected())

    async def _gone(self, endpoint: Endpoint, reason: str) -> None:
        if self.endpoints.get(endpoint.id) is endpoint:
            await self._remove(endpoint, reason)

    async def _watch_endpoints(self) -> None:
        """Endpoints that vanish without a word (a laptop lid closed, a network gone) are detached."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            for endpoint in list(self.endpoints.values()):
                limit = endpoint.idle_limit
                if limit is not None and endpoint.silent_for() > limit:
                    await self._gone(endpoint, f"nothing (RTP or RTCP) came from it for {limit:g} s")

    # ---- hold and transfer -------------------------------------------------------------------------------------

    async def hold(self, on: bool, audio: Path | None = None, name: str = "") -> None:
        """Cut the WhatsApp user and the endpoints off from each other; the user hears ``audio`` on a loop."""
        loop = Loop(await asyncio.to_thread(Track.open, audio, name)) if audio is not None else None
        changed = self.held != on
        self.held = on
        if loop is not None or not self.transferring:
            self._hold = loop if on else None
        self._reroute()
        if changed:
            await self.report(HoldChanged(on))

    async def transfer(self, audio: Path | None = None, name: str = "") -> list[str]:
        """Blind transfer: detach the talkers; the user hears ``audio`` until the next talker connects."""
        hold = Loop(await asyncio.to_thread(Track.open, audio, name)) if audio is not None else None
        talkers = [e for e in self.endpoints.values() if e.role is Role.TALK]
        self.transferring = True
        self.generation += 1
        if hold is not None or not self.held:
            self._hold = hold
        for endpoint in talkers:
            await self._remove(endpoint, "transferred")
        self._reroute()
        return [e.id for e in talkers]

    # ---- playback ----------------------------------------------------------------------------------------------

    async def play(self, path: Path, name: str, to_all: bool = True) -> tuple[TrackInfo, int]:
        """Queue a file; returns it (with its length) and how many files play before it."""
        track = await asyncio.to_thread(Track.open, path, name)
        track.to_all = to_all
        ahead = len(self.playlist.queue) + (self.playlist.current is not None)
        self.playlist.add(track)
        self._reroute()
        return _track_info(track), ahead

    def stop_playback(self) -> bool:
        playing = self.playlist.busy
        self.playlist.stop()
        self._reroute()
        return playing

    def _playback_started(self, track: Track) -> None:
        self._dirty = True  # the next file may go to different ears
        self._tasks.spawn(self.report(PlaybackStarted(_track_info(track))))

    def _playback_finished(self, track: Track, stopped: bool) -> None:
        self._dirty = True
        self._tasks.spawn(self.report(PlaybackFinished(_track_info(track), stopped)))
        self.recording.track_finished(track, stopped)

    # ---- recording ---------------------------------------------------------------------------------------------

    async def start_recording(
        self, path: Path, name: str, rate: int, stereo: bool, announce: tuple[Path, str] | None = None
    ) -> RecordingInfo:
        return await self.recording.start(path, name, rate, stereo, announce)

    async def stop_recording(self) -> tuple[RecordingInfo, float] | None:
        return await self.recording.stop()

    # ---- the whole -----------------------------------------------------------------------------------------------

    def meter(self, watching: bool) -> None:
        """Someone watches levels (a page's event stream): measure them even where senders do not report them."""
        self._meters += 1 if watching else -1
        for inbound in (self.whatsapp.inbound, *(e.inbound for e in self.endpoints.values())):
            inbound.decode_levels = self._meters > 0

    def levels(self) -> dict[str, Any]:
        """dBov (0 loudest, -127 silent) of what each side is saying now."""
        connected = {e.id: e.inbound.level for e in self.endpoints.values() if e.connected}
        talkers = [e for e in self.endpoints.values() if e.role is Role.TALK]
        browser = self.endpoints.get(DEFAULT_ID) or next(iter(talkers), None)
        return {
            "whatsapp": self.whatsapp.inbound.level,
            "browser": browser.inbound.level if browser is not None and browser.connected else None,
            "endpoints": connected,
        }

    def status(self) -> MediaStatus:
        recording = playing = None
        if (recorder := self.recording.recorder) is not None and (info := self.recording.info) is not None:
            recording = RecordingStatus(info, recorder.elapsed)
        if (current := self.playlist.current) is not None:
            playing = PlayingStatus(_track_info(current), len(self.playlist.queue), self.playlist.position)
        return MediaStatus(
            self.browser_connected,
            tuple(self.warnings),
            recording,
            playing,
            endpoints=tuple(_info(e) for e in self.endpoints.values()),
            held=self.held,
            transferring=self.transferring,
            announcing=self.recording.pending is not None,
        )

    async def warn(self, detail: str) -> None:
        await self.report(MediaWarning(detail))

    def endpoint(self, endpoint_id: str) -> Endpoint:
        if (endpoint := self.endpoints.get(endpoint_id)) is None:
            raise NotFound(f"the call has no endpoint {endpoint_id!r}")
        return endpoint

    def stats(self) -> dict[str, Any]:
        """Per leg and endpoint: frames forwarded untouched, decoded and encoded, so the fast path shows."""
        legs: dict[str, Any] = {
            "whatsapp": {
                "state": self.whatsapp.state,
                "inbound": {
                    **self.whatsapp.inbound.buffer.stats.as_dict(),
                    "decoded": self.whatsapp.inbound.decoded + self.router.decoded[WHATSAPP],
                },
                "outbound": dict(self.whatsapp.outgoing.counts),
            }
        }
        if self.whatsapp.lean is not None:
            legs["whatsapp"]["packets"] = self.whatsapp.lean.stats()  # the lean path's SRTP and RTCP figures
        endpoints = {}
        for endpoint in self.endpoints.values():
            stats = endpoint.stats()
            stats["inbound"]["decoded"] += self.router.decoded[_key(endpoint.id)]
            endpoints[endpoint.id] = stats
        if (browser := endpoints.get(DEFAULT_ID)) is not None:
            legs["browser"] = browser  # WaGo's single browser
        return {"legs": legs, "endpoints": endpoints, "mixes": self.router.stats()}

    async def close(self) -> None:
        """At the end of the call: finish the recording and the playback, drop the endpoints."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.recording.close()
        self.playlist.stop()
        for endpoint in list(self.endpoints.values()):
            await self._remove(endpoint, "the call ended")
        await self.router.close()
        await self._tasks.settle(within=2)
        if not self.closed:  # from here its legs' figures are in the closed legs' totals, not the live ones
            self.closed = True
            leg_closed(self.whatsapp_summary())

    def whatsapp_summary(self) -> LegSummary:
        """The WhatsApp leg's figures so far (final once the call has ended): the call's quality summary."""
        return _summary("whatsapp", self.whatsapp)

    def leg_summaries(self) -> list[LegSummary]:
        """Every leg's figures so far: the WhatsApp leg's and each endpoint's (for the metrics' scrape)."""
        if self.closed:
            return []
        return [self.whatsapp_summary(), *(_summary(e.kind, e) for e in self.endpoints.values())]


def _summary(kind: str, leg: WhatsAppLeg | Endpoint) -> LegSummary:
    sent = leg.outgoing.counts
    frames = sent["forwarded"] + sent["encoded"] + sent["silence"] - sent["dropped"]
    return summarize(kind, leg.inbound.buffer.stats, leg.inbound.jitter, frames)


def _key(endpoint_id: str) -> str:
    """Endpoint ids are the client's: keep them apart from the router's own names (whatsapp, playback...)."""
    return "endpoint:" + endpoint_id


def _info(endpoint: Endpoint, state: str | None = None) -> EndpointInfo:
    return EndpointInfo(endpoint.id, endpoint.kind, endpoint.role.value, state or endpoint.state, endpoint.since)


def _track_info(track: Track) -> TrackInfo:
    return TrackInfo(track.id, track.name, track.seconds)


def _is_agent_browser(endpoint: Endpoint) -> bool:
    """WaGo's browser events speak of the agent's page: a talker over WebRTC, not a supervisor listening in."""
    return endpoint.kind == WebRtcEndpoint.kind and endpoint.role is Role.TALK


def _browser_reason(reason: str) -> str:
    return "replaced by a new browser connection" if reason == "replaced by a new connection" else reason
