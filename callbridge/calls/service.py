"""The call state machine (ringing → active → ended): commands from the app, news from WhatsApp, and the
events that report each transition. Persistence is calls/records.py, the live feed calls/feed.py, media
media/call_media.py; this module only decides what happens next.

A transition is stored together with the events that report it, in one transaction. The connector hands on
WhatsApp's news once each and in order, but a call can still end while news is on its way, so each handler
checks the state it finds instead of assuming one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from callbridge.calls.end_reasons import terminated_reason
from callbridge.calls.events import CallAccepted, CallEnded, CallEvent, CallMediaChanged, CallOffered, CallStateChanged
from callbridge.calls.feed import CallFeed
from callbridge.calls.model import Call, Direction, State
from callbridge.calls.phone import normalize_phone
from callbridge.calls.records import CallRecords
from callbridge.cluster.placement import OwnedElsewhere, Placement
from callbridge.connectors.base import Connector
from callbridge.connectors.events import (
    CallAnswered,
    CallNews,
    CallProgress,
    CallTerminated,
    CallUpdate,
    IncomingCall,
)
from callbridge.errors import Conflict, GatewayError, NotFound
from callbridge.media.call_media import CallMedia
from callbridge.media.events import MediaEvent, MediaWarning, RecordingFinished, RecordingStarted
from callbridge.media.ice import IceSettings
from callbridge.media.whatsapp_leg import MEDIA_LOST, WhatsAppLeg, lost_reason
from callbridge.store.models import SessionRow
from callbridge.store.types import utcnow
from callbridge.tasks import BackgroundTasks

log = logging.getLogger(__name__)

MEDIA_LOST_GRACE = 3.0  # seconds to wait for a terminate webhook once the media is gone


class CallService:
    def __init__(
        self,
        records: CallRecords,
        feed: CallFeed,
        connector_for: Callable[[SessionRow], Connector],
        ring_timeout: float,
        ice: IceSettings,
        max_endpoints: int = 8,
        placement: Placement | None = None,
    ) -> None:
        self.records = records
        self.feed = feed
        self.connector_for = connector_for
        self.ring_timeout = ring_timeout
        self.ice = ice
        self.max_endpoints = max_endpoints
        self.placement = placement or Placement("local")
        self.live: dict[str, Call] = {}
        self.idle = asyncio.Event()  # set while no call is live here (a draining node waits for it)
        self.idle.set()
        # Called (in the background) for each new incoming call, once it rings: auto-answer hooks in here.
        self.on_incoming: Callable[[SessionRow, Call], Coroutine[Any, Any, None]] | None = None
        self._tasks = BackgroundTasks()

    # ---- commands from the app ------------------------------------------------------------------------------

    async def make(self, session: SessionRow, phone: str, callback_data: str | None = None) -> Call:
        phone = normalize_phone(phone)
        if not session.connected:
            raise Conflict("the session is not connected: POST /session/connect first")
        node = await self.placement.node_for_new_call()
        if node != self.placement.node_id:
            raise OwnedElsewhere(node)  # draining or full: the request goes to a node with room
        placed = await self.connector_for(session).place_call(phone, callback_data)
        call = Call(
            id=placed.call_id,
            session_id=session.id,
            phone=phone,
            direction=Direction.OUTGOING,
            callback_data=callback_data,
            node_id=self.placement.node_id,
        )
        self._attach(call, placed.leg)
        self.live[call.id] = call
        self.idle.clear()
        async with call.lock:
            await self._report(call, [CallStateChanged(call.snapshot(), "ringing")])
            self._start_ring_timer(call)
            for news in placed.early:  # WhatsApp's news of the call that overtook the Graph API's answer
                await self._apply(call, news)
        await self._report_ice_warning(call)
        log.info("calling %s", phone, extra={"call": call.id})
        return call

    async def accept(self, session: SessionRow, call_id: str, callback_data: str | None = None) -> Call:
        call = await self.live_call(session, call_id)
        async with call.lock:
            if call.direction is not Direction.INCOMING:
                raise Conflict("only incoming calls can be accepted; this one is outgoing")
            if call.state is not State.RINGING:
                raise Conflict(f"the call is {call.state.value}, not ringing")
            assert call.offer_sdp is not None
            self._attach(call, await self.connector_for(session).answer_call(call.id, call.offer_sdp, callback_data))
            call.callback_data = callback_data or call.callback_data
            await self._activate(call)
        await self._report_ice_warning(call)
        return call

    async def reject(self, session: SessionRow, call_id: str) -> Call:
        call = await self.live_call(session, call_id)
        async with call.lock:
            if call.direction is not Direction.INCOMING or call.state is not State.RINGING:
                raise Conflict("only ringing incoming calls can be rejected; use /call/end for this one")
            await self.connector_for(session).reject_call(call.id)
            await self._end(call, "rejected by the app")
        return call

    async def end(self, session: SessionRow, call_id: str) -> Call:
        call = await self.live_call(session, call_id)
        async with call.lock:
            if not call.live:
                raise Conflict("the call has already ended")
            reason = "ended by the app"
            try:
                if call.direction is Direction.INCOMING and call.state is State.RINGING:
                    await self.connector_for(session).reject_call(call.id)
                    reason = "rejected by the app"
                else:
                    await self.connector_for(session).terminate_call(call.id)
            except GatewayError as exc:
                # Our side still ends: without media from us WhatsApp drops the call within seconds.
                log.warning("WhatsApp did not confirm the end of the call: %s", exc, extra={"call": call.id})
                reason += f" (WhatsApp did not confirm: {exc.message})"
            await self._end(call, reason)
        return call

    # ---- the registry ----------------------------------------------------------------------------------------

    async def get(self, session: SessionRow, call_id: str) -> Call:
        """A call of this session, live or from the record (404 for any other). A live call that another node
        carries raises :class:`OwnedElsewhere`: the request is that node's to answer."""
        call = self.live.get(call_id)
        if call is not None and call.session_id == session.id:
            return call
        stored = await self.records.load(call_id)
        if stored is None or stored.session_id != session.id:
            raise NotFound(f"unknown call {call_id!r}")
        if stored.live and self.placement.elsewhere(stored.node_id):
            raise OwnedElsewhere(stored.node_id or "")
        return stored

    async def list(self, session: SessionRow, history: int = 0) -> list[Call]:
        """Live calls (every node's), newest first, then up to ``history`` ended ones from the record."""
        calls = [c for c in self.live.values() if c.session_id == session.id]
        if self.placement.clustered:
            calls += await self.records.live_elsewhere(session.id, self.placement.node_id)
        calls.sort(key=lambda c: c.started_at, reverse=True)
        return calls + (await self.records.ended(session.id, history) if history else [])

    async def live_call(self, session: SessionRow, call_id: str) -> Call:
        call = self.live.get(call_id)
        if call is not None and call.session_id == session.id:
            return call
        ended = await self.get(session, call_id)  # raises NotFound for calls this session never had
        raise Conflict(f"the call has already ended ({ended.end_reason})")

    async def active_media(self, session: SessionRow, call_id: str) -> CallMedia:
        """The media of an answered call, for the app's media commands (browser, play, record)."""
        call = await self.live_call(session, call_id)
        if call.state is not State.ACTIVE or call.media is None:
            raise Conflict(f"the call is {call.state.value}: its media is available once it is active")
        return call.media

    # ---- news from WhatsApp ----------------------------------------------------------------------------------

    async def handle(self, session: SessionRow, news: CallNews) -> None:
        """WhatsApp's news of a call this node carries (or, for a new call, is to take: cluster/news_routing.py
        decides which node that is)."""
        if isinstance(news, IncomingCall):
            await self._incoming(session, news)
            return
        call = self.live.get(news.call_id)
        if call is None:
            return  # an ended call's late news
        async with call.lock:
            await self._apply(call, news)

    async def _apply(self, call: Call, news: CallUpdate) -> None:
        if not call.live:
            return
        if isinstance(news, CallAnswered):
            await self._answered(call, news.answer_sdp)
        elif isinstance(news, CallProgress):
            await self._progress(call, news.status)
        else:
            await self._terminated(call, news)

    async def _incoming(self, session: SessionRow, event: IncomingCall) -> None:
        if event.call_id in self.live or await self.records.known(event.call_id):
            return  # a repeated delivery
        if not session.connected:
            log.info("incoming call rejected: session %s is not connected", session.name, extra={"call": event.call_id})
            with contextlib.suppress(GatewayError):
                await self.connector_for(session).reject_call(event.call_id)
            return
        call = Call(
            id=event.call_id,
            session_id=session.id,
            phone=event.phone,
            direction=Direction.INCOMING,
            contact_name=event.name,
            offer_sdp=event.offer_sdp,
            node_id=self.placement.node_id,
        )
        self.live[call.id] = call
        self.idle.clear()
        async with call.lock:
            await self._report(call, [CallOffered(call.snapshot()), CallStateChanged(call.snapshot(), "ringing")])
            self._start_ring_timer(call)
        log.info("incoming call from %s", call.phone, extra={"call": call.id})
        if self.on_incoming is not None:
            self._tasks.spawn(self.on_incoming(session, call))

    async def _answered(self, call: Call, sdp: str) -> None:
        if call.direction is not Direction.OUTGOING or call.leg is None or call.answer_applied:
            return
        try:
            await call.leg.apply_answer(sdp)
        except Exception as exc:
            log.warning("WhatsApp's SDP answer could not be applied: %s", exc, extra={"call": call.id})
            await self._tell_whatsapp(call, "terminate")
            await self._end(call, f"WhatsApp's SDP answer was unusable: {exc}")
            return
        call.answer_applied = True

    async def _progress(self, call: Call, status: str) -> None:
        # Meta reports the progress of the business's own calls; an incoming call is accepted by the app only.
        if status == "ACCEPTED" and call.direction is Direction.OUTGOING and call.state is State.RINGING:
            await self._activate(call)
        elif status == "REJECTED":
            await self._end(call, f"rejected by {call.phone}")

    async def _terminated(self, call: Call, event: CallTerminated) -> None:
        await self._end(call, terminated_reason(call, event), duration=event.duration)

    # ---- transitions (the caller holds call.lock) ------------------------------------------------------------

    async def _activate(self, call: Call) -> None:
        self._cancel_timer(call)
        call.state = State.ACTIVE
        call.answered_at = utcnow()
        await self._report(call, [CallAccepted(call.snapshot()), CallStateChanged(call.snapshot(), "active")])
        log.info("call active", extra={"call": call.id})

    async def _end(self, call: Call, reason: str, duration: float | None = None) -> None:
        if not call.live:
            return
        if call.media is not None:
            await call.media.close()  # finishes a recording and reports it while the call is still live
        self._cancel_timer(call)
        call.state = State.ENDED
        call.ended_at = utcnow()
        call.end_reason = reason
        if duration is None and call.answered_at is not None:
            duration = (call.ended_at - call.answered_at).total_seconds()
        call.duration = round(duration or 0.0, 1)
        self.live.pop(call.id, None)
        if not self.live:
            self.idle.set()
        if call.leg is not None:
            await call.leg.close()
        await self._report(call, [CallEnded(call.snapshot(), reason), CallStateChanged(call.snapshot(), "ended")])
        self.records.forget(call)
        log.info("call ended: %s", reason, extra={"call": call.id})

    async def _report(self, call: Call, events: Sequence[CallEvent]) -> None:
        await self.records.store(call, events)
        self.feed.publish(call.session_id, call.id, events)

    # ---- media -----------------------------------------------------------------------------------------------

    def _attach(self, call: Call, leg: WhatsAppLeg) -> None:
        leg.on_lost = lambda state: self._media_failed(call, lost_reason(state))
        call.leg = leg
        call.media = CallMedia(leg, self.ice, lambda event: self._media_event(call, event), self.max_endpoints)

    async def _report_ice_warning(self, call: Call) -> None:
        if call.leg is not None and call.leg.ice_warning:
            await self._media_event(call, MediaWarning(call.leg.ice_warning))

    async def _media_event(self, call: Call, event: MediaEvent) -> None:
        """Browser, playback and recording news: reported, and recordings kept on record."""
        if not call.live:
            return
        await self._report(call, [CallMediaChanged(call.snapshot(), event)])
        if isinstance(event, RecordingStarted):
            await self.records.recording_started(call.id, event.recording)
        elif isinstance(event, RecordingFinished):
            await self.records.recording_finished(call.id, event.recording, event.seconds)

    # ---- timers and failures ---------------------------------------------------------------------------------

    def _start_ring_timer(self, call: Call) -> None:
        call.timer = self._tasks.spawn(self._ring_timeout(call))

    def _cancel_timer(self, call: Call) -> None:
        if call.timer is not None and call.timer is not asyncio.current_task():
            call.timer.cancel()
        call.timer = None

    async def _ring_timeout(self, call: Call) -> None:
        await asyncio.sleep(self.ring_timeout)
        async with call.lock:
            if call.state is not State.RINGING:
                return
            seconds = f"{self.ring_timeout:g}s"
            if call.direction is Direction.INCOMING:
                reason = f"not accepted within {seconds} (ring timeout): the gateway rejected it"
                await self._tell_whatsapp(call, "reject")
            else:
                reason = f"not answered within {seconds} (ring timeout)"
                await self._tell_whatsapp(call, "terminate")
            await self._end(call, reason)

    async def _media_failed(self, call: Call, reason: str) -> None:
        if reason == MEDIA_LOST:
            # A hang-up also closes the media, and WhatsApp's terminate webhook, which says why, may come just after.
            await asyncio.sleep(MEDIA_LOST_GRACE)
        async with call.lock:
            if call.live:
                await self._tell_whatsapp(call, "terminate")
                await self._end(call, reason)

    async def _tell_whatsapp(self, call: Call, action: str) -> None:
        session = await self.records.session(call.session_id)
        if session is None:
            return
        try:
            connector = self.connector_for(session)
            await (connector.reject_call if action == "reject" else connector.terminate_call)(call.id)
        except GatewayError as exc:
            log.warning("could not %s the call at WhatsApp: %s", action, exc, extra={"call": call.id})

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Calls a previous process of this node left live have lost their media: record that they ended. (Other
        nodes' calls are theirs; a lost node's are ended by cluster/reaper.py.)"""
        node = self.placement.node_id if self.placement.clustered else None
        for call in await self.records.unfinished(node):
            await self._end(call, "the gateway restarted during the call")
            # Tell WhatsApp too (it would drop the call for lack of audio anyway, but billing stops now).
            self._tasks.spawn(self._tell_whatsapp(call, "terminate"))

    async def end_orphan(self, call: Call, reason: str) -> None:
        """End a call whose node is gone (``call`` comes from the record): WhatsApp told, the end reported."""
        async with call.lock:
            ringing_here = call.direction is Direction.INCOMING and call.state is State.RINGING
            await self._tell_whatsapp(call, "reject" if ringing_here else "terminate")
            await self._end(call, reason)

    async def abandon(self) -> None:
        """This node was declared lost and its calls were ended by another: let go of their media, report
        nothing more."""
        calls = list(self.live.values())
        self.live.clear()
        self.idle.set()
        for call in calls:
            self._cancel_timer(call)
            call.state = State.ENDED  # its media's last news is not reported: the record is another node's now
            with contextlib.suppress(Exception):
                if call.media is not None:
                    await call.media.close()
                if call.leg is not None:
                    await call.leg.close()

    async def shutdown(self) -> None:
        async def stop(call: Call) -> None:
            async with call.lock:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._tell_whatsapp(call, "terminate"), timeout=3)
                await self._end(call, "the gateway stopped")

        await asyncio.gather(*(stop(call) for call in list(self.live.values())), return_exceptions=True)
        await self._tasks.stop(within=3)

    async def end_session_calls(self, session: SessionRow) -> None:
        for call in [c for c in self.live.values() if c.session_id == session.id]:
            with contextlib.suppress(GatewayError):
                await self.end(session, call.id)
