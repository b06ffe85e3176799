"""The call registry and state machine: commands from the app, events from WhatsApp, events to the app.

Every transition is stored together with the events that report it, in one transaction. WhatsApp's webhooks
repeat and arrive out of order, so each handler checks the state it finds instead of assuming one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callbridge.calls.model import Call, Direction, State
from callbridge.calls.phone import normalize_phone
from callbridge.connectors.base import (
    CallAnswered,
    CallProgress,
    CallTerminated,
    Connector,
    ConnectorEvent,
    IncomingCall,
    PermissionReply,
)
from callbridge.errors import Conflict, GatewayError, NotFound
from callbridge.events.outbox import Outbox
from callbridge.files import audio_file, new_recording
from callbridge.media.call_media import CallMedia
from callbridge.media.ice import IceSettings
from callbridge.media.whatsapp_leg import MEDIA_LOST, WhatsAppLeg, lost_reason
from callbridge.store import Database
from callbridge.store.models import CallRow, RecordingRow, SessionRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]
EARLY_EVENT_TTL = 60.0  # seconds a webhook for a call we are still placing is kept
MEDIA_LOST_GRACE = 3.0  # seconds to wait for a terminate webhook once the media is gone


class CallService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        connector_for: Callable[[SessionRow], Connector],
        ring_timeout: float,
        ice: IceSettings,
        files_dir: Path,
    ) -> None:
        self.ice = ice
        self.files_dir = files_dir
        self.db = db
        self.outbox = outbox
        self.connector_for = connector_for
        self.ring_timeout = ring_timeout
        self.live: dict[str, Call] = {}
        # Webhooks can overtake what makes the call known: the Graph API's answer with its id (calls we place),
        # or the connect webhook (calls we receive).
        self._early: dict[str, list[tuple[float, ConnectorEvent]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Live event streams (a page's EventSource), by call id or "session:<id>"; at most once, in process.
        self._watchers: dict[str, set[asyncio.Queue[Event]]] = {}

    # ---- commands from the app ------------------------------------------------------------------------------

    async def make(self, session: SessionRow, phone: str) -> Call:
        phone = normalize_phone(phone)
        if not session.connected:
            raise Conflict("the session is not connected: POST /session/connect first")
        call_id, leg = await self.connector_for(session).place_call(phone)
        call = Call(id=call_id, session_id=session.id, phone=phone, direction=Direction.OUTGOING)
        self._attach(call, leg)
        self.live[call.id] = call
        async with call.lock:
            await self._store(call, [self._state_event(call, "ringing")])
            self._start_ring_timer(call)
        await self._report_ice_warning(call)
        log.info("calling %s", phone, extra={"call": call.id})
        for _, event in self._early.pop(call.id, []):
            await self.handle(session, event)
        return call

    async def accept(self, session: SessionRow, call_id: str) -> Call:
        call = await self._live_call(session, call_id)
        async with call.lock:
            if call.direction is not Direction.INCOMING:
                raise Conflict("only incoming calls can be accepted; this one is outgoing")
            if call.state is not State.RINGING:
                raise Conflict(f"the call is {call.state.value}, not ringing")
            assert call.offer_sdp is not None
            self._attach(call, await self.connector_for(session).answer_call(call.id, call.offer_sdp))
            await self._activate(call)
        await self._report_ice_warning(call)
        return call

    async def reject(self, session: SessionRow, call_id: str) -> Call:
        call = await self._live_call(session, call_id)
        async with call.lock:
            if call.direction is not Direction.INCOMING or call.state is not State.RINGING:
                raise Conflict("only ringing incoming calls can be rejected; use /call/end for this one")
            await self.connector_for(session).reject_call(call.id)
            await self._end(call, "rejected by the app")
        return call

    async def end(self, session: SessionRow, call_id: str) -> Call:
        call = await self._live_call(session, call_id)
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

    # ---- media commands --------------------------------------------------------------------------------------

    async def attach_browser(self, session: SessionRow, call_id: str, offer_sdp: str) -> str:
        media = await self._active_media(session, call_id)
        return await media.attach_browser(offer_sdp)

    async def detach_browser(self, session: SessionRow, call_id: str) -> bool:
        media = await self._active_media(session, call_id)
        return await media.detach_browser("closed by the app")

    async def play(self, session: SessionRow, call_id: str, audio: str) -> tuple[str, float, int]:
        media = await self._active_media(session, call_id)
        track, ahead = await media.play(audio_file(self.files_dir, audio), audio)
        return track.id, track.seconds, ahead

    async def stop_playback(self, session: SessionRow, call_id: str) -> bool:
        return (await self._active_media(session, call_id)).stop_playback()

    async def record(self, session: SessionRow, call_id: str, path: str | None, rate: int, stereo: bool) -> str:
        media = await self._active_media(session, call_id)
        name = path or f"calls/{call_id}.wav"
        if media.recorder is not None:
            raise Conflict("the call is already being recorded; stop that recording first")
        await media.start_recording(new_recording(self.files_dir, name), name, rate, stereo)
        return name

    async def stop_recording(self, session: SessionRow, call_id: str) -> tuple[str, float]:
        media = await self._active_media(session, call_id)
        result = await media.stop_recording()
        if result is None:
            raise Conflict("the call is not being recorded")
        return result

    async def media_stats(self, session: SessionRow, call_id: str) -> dict[str, Any]:
        call = await self._live_call(session, call_id)
        return call.media.stats() if call.media is not None else {}

    async def _active_media(self, session: SessionRow, call_id: str) -> CallMedia:
        call = await self._live_call(session, call_id)
        if call.state is not State.ACTIVE or call.media is None:
            raise Conflict(f"the call is {call.state.value}: its media is available once it is active")
        return call.media

    async def get(self, session: SessionRow, call_id: str) -> Call:
        call = self.live.get(call_id)
        if call is not None and call.session_id == session.id:
            return call
        async with self.db.session() as s:
            row = await s.get(CallRow, call_id)
        if row is None or row.session_id != session.id:
            raise NotFound(f"unknown call {call_id!r}")
        return Call.from_row(row)

    async def list(self, session: SessionRow, history: int = 0) -> list[Call]:
        """Live calls, newest first, then up to ``history`` ended ones from the record."""
        calls = sorted(
            (c for c in self.live.values() if c.session_id == session.id), key=lambda c: c.started_at, reverse=True
        )
        if history:
            query = (
                select(CallRow)
                .where(CallRow.session_id == session.id, CallRow.state == State.ENDED.value)
                .order_by(CallRow.started_at.desc())
                .limit(history)
            )
            async with self.db.session() as s:
                calls += [Call.from_row(row) for row in await s.scalars(query)]
        return calls

    async def request_permission(self, session: SessionRow, phone: str, body: str) -> tuple[str, str | None]:
        phone = normalize_phone(phone)
        return phone, await self.connector_for(session).request_permission(phone, body)

    async def permission(self, session: SessionRow, phone: str) -> dict[str, Any]:
        return await self.connector_for(session).permission(normalize_phone(phone))

    # ---- events from WhatsApp -------------------------------------------------------------------------------

    async def handle(self, session: SessionRow, event: ConnectorEvent) -> None:
        if isinstance(event, PermissionReply):
            await self._publish_session_event(
                session,
                "CallPermission",
                {
                    "Phone": event.phone,
                    "Response": event.response,
                    "ExpiresAt": event.expires_at,
                },
            )
            return
        if isinstance(event, IncomingCall):
            await self._incoming(session, event)
            return
        call = self.live.get(event.call_id)
        if call is None:
            if not await self._known(event.call_id):
                self._keep_early(event)
            return  # an ended call's late or repeated webhook
        async with call.lock:
            if not call.live:
                return
            if isinstance(event, CallAnswered):
                await self._answered(call, event.answer_sdp)
            elif isinstance(event, CallProgress):
                await self._progress(call, event.status)
            elif isinstance(event, CallTerminated):
                await self._terminated(call, event)

    async def _incoming(self, session: SessionRow, event: IncomingCall) -> None:
        if event.call_id in self.live or await self._known(event.call_id):
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
        )
        self.live[call.id] = call
        async with call.lock:
            offer = ("CallOffer", {**call.view(), "From": f"{call.phone}@s.whatsapp.net"})
            await self._store(call, [offer, self._state_event(call, "ringing")])
            self._start_ring_timer(call)
        log.info("incoming call from %s", call.phone, extra={"call": call.id})
        for _, early in self._early.pop(call.id, []):  # e.g. the caller's hang-up, delivered before the offer
            await self.handle(session, early)

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
        if status == "ACCEPTED" and call.state is State.RINGING:
            await self._activate(call)
        elif status == "REJECTED":
            await self._end(call, f"rejected by {call.phone}")

    async def _terminated(self, call: Call, event: CallTerminated) -> None:
        if event.status == "REJECTED":
            reason = f"rejected by {call.phone}"
        elif event.status == "FAILED":
            details = "; ".join(str(e.get("message") or e.get("code")) for e in event.errors) or "no details"
            reason = f"WhatsApp reported the call failed: {details}"
        elif call.state is State.ACTIVE:
            reason = f"hung up by {call.phone}"
        elif call.direction is Direction.INCOMING:
            reason = f"{call.phone} hung up before the call was accepted"
        else:
            reason = f"not answered by {call.phone}"
        await self._end(call, reason, duration=event.duration)

    # ---- transitions (the caller holds call.lock) ------------------------------------------------------------

    async def _activate(self, call: Call) -> None:
        self._cancel_timer(call)
        call.state = State.ACTIVE
        call.answered_at = utcnow()
        await self._store(call, [("CallAccept", call.view()), self._state_event(call, "active")])
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
        if call.leg is not None:
            await call.leg.close()
        terminate = ("CallTerminate", {**call.view(), "Reason": reason})
        await self._store(call, [terminate, self._state_event(call, "ended")])
        self.outbox.forget(call.session_id, call.id)
        log.info("call ended: %s", reason, extra={"call": call.id})

    def _attach(self, call: Call, leg: WhatsAppLeg) -> None:
        leg.on_lost = lambda state: self._media_failed(call, lost_reason(state))
        call.leg = leg
        call.media = CallMedia(leg, self.ice, lambda event, details: self._media_event(call, event, details))

    async def _report_ice_warning(self, call: Call) -> None:
        if call.leg is not None and call.leg.ice_warning:
            await self._media_event(call, "media_warning", {"Detail": call.leg.ice_warning})

    async def _media_event(self, call: Call, event: str, details: dict[str, Any]) -> None:
        """Browser, playback and recording news: reported as CallState, and recordings kept on record."""
        await self._store(call, [("CallState", {**call.view(), "Event": event, **details})])
        if event == "recording_started":
            async with self.db.session() as s:
                s.add(
                    RecordingRow(
                        call_id=call.id,
                        path=details["Path"],
                        sample_rate=details["SampleRate"],
                        channels=2 if details["Stereo"] else 1,
                    )
                )
                await s.commit()
        elif event == "recording_finished":
            async with self.db.session() as s:
                row = await s.scalar(
                    select(RecordingRow)
                    .where(RecordingRow.call_id == call.id, RecordingRow.path == details["Path"])
                    .order_by(RecordingRow.id.desc())
                )
                if row is not None:
                    row.ended_at, row.seconds = utcnow(), details["Seconds"]
                    await s.commit()

    # ---- timers and failures ---------------------------------------------------------------------------------

    def _start_ring_timer(self, call: Call) -> None:
        call.timer = self._spawn(self._ring_timeout(call))

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
        session = await self._session_row(call.session_id)
        if session is None:
            return
        connector = self.connector_for(session)
        try:
            await (connector.reject_call if action == "reject" else connector.terminate_call)(call.id)
        except GatewayError as exc:
            log.warning("could not %s the call at WhatsApp: %s", action, exc, extra={"call": call.id})

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Calls a previous process left live have lost their media: record that they ended."""
        async with self.db.session() as s:
            rows = list(await s.scalars(select(CallRow).where(CallRow.state != State.ENDED.value)))
        for row in rows:
            call = Call.from_row(row)
            await self._end(call, "the gateway restarted during the call")
            # Tell WhatsApp too (it would drop the call for lack of audio anyway, but billing stops now).
            self._spawn(self._tell_whatsapp(call, "terminate"))

    async def shutdown(self) -> None:
        calls = list(self.live.values())

        async def stop(call: Call) -> None:
            async with call.lock:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._tell_whatsapp(call, "terminate"), timeout=3)
                await self._end(call, "the gateway stopped")

        await asyncio.gather(*(stop(call) for call in calls), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    async def end_session_calls(self, session: SessionRow) -> None:
        for call in [c for c in self.live.values() if c.session_id == session.id]:
            with contextlib.suppress(GatewayError):
                await self.end(session, call.id)

    # ---- helpers ---------------------------------------------------------------------------------------------

    async def _live_call(self, session: SessionRow, call_id: str) -> Call:
        call = self.live.get(call_id)
        if call is not None and call.session_id == session.id:
            return call
        ended = await self.get(session, call_id)  # raises NotFound for calls this session never had
        raise Conflict(f"the call has already ended ({ended.end_reason})")

    async def _known(self, call_id: str) -> bool:
        async with self.db.session() as s:
            return await s.get(CallRow, call_id) is not None

    def _keep_early(self, event: ConnectorEvent) -> None:
        now = time.monotonic()
        for call_id in [k for k, v in self._early.items() if now - v[0][0] > EARLY_EVENT_TTL]:
            del self._early[call_id]
        self._early.setdefault(event.call_id, []).append((now, event))  # type: ignore[union-attr]

    def _state_event(self, call: Call, what: str) -> Event:
        return ("CallState", {**call.view(), "Event": what})

    async def _session_row(self, session_id: int) -> SessionRow | None:
        async with self.db.session() as s:
            return await s.get(SessionRow, session_id)

    async def _store(self, call: Call, events: list[Event]) -> None:
        """Write the call's record and stage its events in one transaction."""
        async with call.store_lock, self.db.session() as s:
            row = await s.get(CallRow, call.id)
            if row is None:
                s.add(CallRow(id=call.id, **call.row_values()))
            else:
                for key, value in call.row_values().items():
                    setattr(row, key, value)
            session = await s.get(SessionRow, call.session_id)
            if session is not None:
                for event_type, payload in events:
                    await self.outbox.stage(s, session, event_type, payload, call.id)
            await s.commit()
        self.outbox.notify()
        for event in events:
            self._broadcast((call.id, f"session:{call.session_id}"), event)

    # ---- live event streams ----------------------------------------------------------------------------------

    def watch(self, key: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        self._watchers.setdefault(key, set()).add(queue)
        return queue

    def unwatch(self, key: str, queue: asyncio.Queue[Event]) -> None:
        watchers = self._watchers.get(key)
        if watchers is not None:
            watchers.discard(queue)
            if not watchers:
                del self._watchers[key]

    def _broadcast(self, keys: tuple[str, ...], event: Event) -> None:
        for key in keys:
            for queue in self._watchers.get(key, ()):
                if not queue.full():  # a stalled page misses events rather than holding memory
                    queue.put_nowait(event)

    async def _publish_session_event(self, session: SessionRow, event_type: str, payload: dict[str, Any]) -> None:
        async with self.db.session() as s:
            fresh = await s.get(SessionRow, session.id)
            if fresh is not None and await self.outbox.stage(s, fresh, event_type, payload):
                await s.commit()
        self.outbox.notify()
        self._broadcast((f"session:{session.id}",), (event_type, payload))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
