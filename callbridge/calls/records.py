"""The calls' history and recordings in the database, written in one transaction with the events that report
them, so that no change is kept without its event nor an event sent for a change that was lost."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, update

from callbridge.calls.events import AppEvent, CallEvent
from callbridge.calls.model import Call, State
from callbridge.connectors.events import PermissionReply
from callbridge.events.outbox import Outbox
from callbridge.events.views import event_view
from callbridge.media.events import RecordingInfo
from callbridge.store import Database
from callbridge.store.models import CallRow, PermissionReplyRow, RecordingRow, SessionRow
from callbridge.store.types import utcnow


class CallRecords:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    async def store(self, call: Call, events: Sequence[CallEvent]) -> None:
        """Write the call's record and stage its events for the app's webhook, in one transaction."""
        async with call.store_lock, self.db.session() as s:
            row = await s.get(CallRow, call.id)
            if row is None:
                s.add(CallRow(id=call.id, **call.row_values()))
            else:
                for key, value in call.row_values().items():
                    setattr(row, key, value)
            session = await s.get(SessionRow, call.session_id)
            if session is not None:
                for event in events:
                    await self.outbox.stage(s, session, *event_view(event), call.id)
            await s.commit()
        self.outbox.notify()

    async def store_session_event(self, session_id: int, event: AppEvent) -> None:
        """An event that belongs to no call (a permission reply)."""
        async with self.db.session() as s:
            session = await s.get(SessionRow, session_id)
            if session is not None and await self.outbox.stage(s, session, *event_view(event)):
                await s.commit()
        self.outbox.notify()

    def forget(self, call: Call) -> None:
        """The call has ended: its per-call event counter can go."""
        self.outbox.forget(call.session_id, call.id)

    async def load(self, call_id: str) -> Call | None:
        async with self.db.session() as s:
            row = await s.get(CallRow, call_id)
        return Call.from_row(row) if row is not None else None

    async def known(self, call_id: str) -> bool:
        async with self.db.session() as s:
            return await s.get(CallRow, call_id) is not None

    async def ended(self, session_id: int, limit: int) -> list[Call]:
        """The session's most recent ended calls, newest first."""
        query = (
            select(CallRow)
            .where(CallRow.session_id == session_id, CallRow.state == State.ENDED.value)
            .order_by(CallRow.started_at.desc())
            .limit(limit)
        )
        async with self.db.session() as s:
            return [Call.from_row(row) for row in await s.scalars(query)]

    async def unfinished(self, node_id: str | None = None) -> list[Call]:
        """Calls recorded as live (only ``node_id``'s, and those of no node, when given): after a restart, those
        a previous process left behind."""
        query = select(CallRow).where(CallRow.state != State.ENDED.value)
        if node_id is not None:
            query = query.where(or_(CallRow.node_id == node_id, CallRow.node_id.is_(None)))
        async with self.db.session() as s:
            return [Call.from_row(row) for row in await s.scalars(query)]

    async def unfinished_of(self, node_id: str) -> list[Call]:
        """Calls recorded as live on ``node_id`` (a lost node)."""
        query = select(CallRow).where(CallRow.state != State.ENDED.value, CallRow.node_id == node_id)
        async with self.db.session() as s:
            return [Call.from_row(row) for row in await s.scalars(query)]

    async def live_elsewhere(self, session_id: int, node_id: str) -> list[Call]:
        """The session's live calls that other nodes carry, as recorded."""
        query = select(CallRow).where(
            CallRow.session_id == session_id, CallRow.state != State.ENDED.value, CallRow.node_id != node_id
        )
        async with self.db.session() as s:
            return [Call.from_row(row) for row in await s.scalars(query)]

    async def mark_recordings_incomplete(self, call_id: str) -> None:
        """The node writing the call's recordings stopped: what it wrote is all there is."""
        async with self.db.session() as s:
            await s.execute(
                update(RecordingRow)
                .where(RecordingRow.call_id == call_id, RecordingRow.ended_at.is_(None))
                .values(incomplete=True, ended_at=utcnow())
            )
            await s.commit()

    async def session(self, session_id: int) -> SessionRow | None:
        async with self.db.session() as s:
            return await s.get(SessionRow, session_id)

    async def save_permission_reply(self, session_id: int, reply: PermissionReply) -> None:
        """Keep the user's latest answer (a later reply replaces an earlier one)."""
        values = {
            "response": reply.response,
            "is_permanent": reply.is_permanent,
            "source": reply.source,
            "expires_at": reply.expires_at,
            "context_id": reply.context_id,
            "received_at": utcnow(),
        }
        async with self.db.session() as s:
            row = await s.scalar(
                select(PermissionReplyRow).where(
                    PermissionReplyRow.session_id == session_id, PermissionReplyRow.phone == reply.phone
                )
            )
            if row is None:
                s.add(PermissionReplyRow(session_id=session_id, phone=reply.phone, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            await s.commit()

    async def last_permission_reply(self, session_id: int, phone: str) -> PermissionReplyRow | None:
        async with self.db.session() as s:
            return await s.scalar(
                select(PermissionReplyRow).where(
                    PermissionReplyRow.session_id == session_id, PermissionReplyRow.phone == phone
                )
            )

    async def recording_started(self, call_id: str, recording: RecordingInfo) -> None:
        async with self.db.session() as s:
            s.add(
                RecordingRow(
                    call_id=call_id,
                    path=recording.path,
                    sample_rate=recording.sample_rate,
                    channels=2 if recording.stereo else 1,
                )
            )
            await s.commit()

    async def recording_finished(self, call_id: str, recording: RecordingInfo, seconds: float) -> None:
        async with self.db.session() as s:
            row = await s.scalar(
                select(RecordingRow)
                .where(RecordingRow.call_id == call_id, RecordingRow.path == recording.path)
                .order_by(RecordingRow.id.desc())
            )
            if row is not None:
                row.ended_at, row.seconds = utcnow(), seconds
                await s.commit()
