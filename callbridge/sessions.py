"""Sessions: one WhatsApp Business number each, addressed by a session token."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from callbridge.connectors.base import Connector
from callbridge.errors import Conflict, InvalidRequest, NotFound
from callbridge.store import Database
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.tasks import BackgroundTasks

log = logging.getLogger(__name__)

# Event classes an app can subscribe to, by their canonical spelling.
EVENT_CLASSES = ("All", "Call")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_subscribe(names: Sequence[str]) -> list[str]:
    """Canonical, de-duplicated event classes; unknown names are refused, not dropped."""
    known = {name.lower(): name for name in EVENT_CLASSES}
    result: list[str] = []
    for name in names:
        canonical = known.get(name.strip().lower()) if isinstance(name, str) else None
        if canonical is None:
            raise InvalidRequest(f"unknown event class {name!r} in Subscribe; known: {', '.join(EVENT_CLASSES)}")
        if canonical not in result:
            result.append(canonical)
    return result or ["All"]


class SessionService:
    def __init__(self, db: Database, connector_for: Callable[[SessionRow], Connector]) -> None:
        self.db = db
        self.connector_for = connector_for
        self._background = BackgroundTasks()

    async def create(self, name: str, token: str, os_name: str, cloud: dict[str, Any] | None) -> SessionRow:
        row = SessionRow(
            name=name,
            token=token,
            token_digest=token_digest(token),
            os_name=os_name,
            cloud=cloud,
            phone_number_id=cloud["phone_number_id"] if cloud else None,
            subscribe=["All"],
        )
        async with self.db.session() as s:
            clash = await s.scalar(
                select(SessionRow).where(
                    (SessionRow.name == name)
                    | (SessionRow.token_digest == row.token_digest)
                    | ((SessionRow.phone_number_id == row.phone_number_id) & (SessionRow.phone_number_id.is_not(None)))
                )
            )
            if clash is not None:
                if clash.name == name:
                    raise Conflict(f"a session named {name!r} already exists")
                if clash.token_digest == row.token_digest:
                    raise Conflict("that token is already used by another session")
                raise Conflict(f"PhoneNumberID {row.phone_number_id} already belongs to session {clash.name!r}")
            s.add(row)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise Conflict("a session with that name, token or PhoneNumberID already exists") from exc
        log.info("session created", extra={"session": name})
        return row

    async def by_token(self, token: str) -> SessionRow | None:
        digest = token_digest(token)
        async with self.db.session() as s:
            row = await s.scalar(select(SessionRow).where(SessionRow.token_digest == digest))
        if row is None or not hmac.compare_digest(row.token_digest, digest):
            return None
        return row

    async def by_id(self, session_id: int) -> SessionRow | None:
        async with self.db.session() as s:
            return await s.get(SessionRow, session_id)

    async def by_phone_number_id(self, phone_number_id: str) -> SessionRow | None:
        async with self.db.session() as s:
            return await s.scalar(select(SessionRow).where(SessionRow.phone_number_id == phone_number_id))

    async def list(self, logged_in_only: bool = False) -> list[SessionRow]:
        query = select(SessionRow).order_by(SessionRow.id)
        if logged_in_only:
            query = query.where(SessionRow.logged_in.is_(True))
        async with self.db.session() as s:
            return list(await s.scalars(query))

    async def update(self, session_id: int, **fields: Any) -> SessionRow:
        async with self.db.session() as s:
            row = await s.get(SessionRow, session_id)
            if row is None:
                raise NotFound("session not found")
            for key, value in fields.items():
                setattr(row, key, value)
            await s.commit()
            return row

    async def delete(self, session_id: int) -> None:
        async with self.db.session() as s:
            # Undelivered events go with the session: nobody is left to receive them.
            await s.execute(delete(OutboxRow).where(OutboxRow.session_id == session_id))
            await s.execute(delete(SessionRow).where(SessionRow.id == session_id))
            await s.commit()

    async def connect(self, row: SessionRow, subscribe: Sequence[str], immediate: bool) -> SessionRow:
        events = normalize_subscribe(subscribe)
        connector = self.connector_for(row)  # refuses a session without credentials before anything changes
        if not immediate:
            jid = await connector.identity()
            return await self.update(row.id, connected=True, logged_in=True, jid=jid, subscribe=events)
        row = await self.update(row.id, connected=True, subscribe=events)
        self._background.spawn(self._check_in_background(row))
        return row

    async def stop(self) -> None:
        await self._background.stop(within=2)

    async def _check_in_background(self, row: SessionRow) -> None:
        try:
            jid = await self.connector_for(row).identity()
        except Exception as exc:
            log.warning("credential check failed: %s", exc, extra={"session": row.name})
            await self.update(row.id, logged_in=False)
        else:
            await self.update(row.id, logged_in=True, jid=jid)
