"""The database layer on the configured backend (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from callbridge.events.outbox import Outbox
from callbridge.sessions import token_digest
from callbridge.store import Database
from callbridge.store.db import alembic_config
from callbridge.store.models import Base, CallRow, OutboxRow, SessionRow
from tests.support.database import secret_box

pytestmark = pytest.mark.store


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, secret_box())
    await database.migrate()
    yield database
    await database.close()


async def test_migrations_build_exactly_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    assert diff == []


async def test_migrating_again_is_a_no_op(db: Database) -> None:
    await db.migrate()
    async with db.engine.connect() as conn:
        head = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_datetimes_come_back_aware_and_in_utc(db: Database) -> None:
    plus_two = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    async with db.session() as s:
        s.add(CallRow(id="wacid.t", phone="1", direction="incoming", state="ringing", started_at=plus_two))
        await s.commit()
    async with db.session() as s:
        row = await s.get(CallRow, "wacid.t")
    assert row is not None
    assert row.started_at == plus_two
    assert row.started_at.tzinfo is not None and row.started_at.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"):
        async with db.session() as s:
            s.add(
                CallRow(id="wacid.n", phone="1", direction="incoming", state="ringing", started_at=datetime(2026, 1, 1))
            )
            await s.commit()


async def _session(db: Database, **fields: object) -> SessionRow:
    row = SessionRow(
        name="s",
        token="t",
        token_digest=token_digest("t"),
        subscribe=["Call"],
        connected=True,
        webhook_url="http://127.0.0.1:9/hook",
        **fields,
    )
    async with db.session() as s:
        s.add(row)
        await s.commit()
    return row


async def test_outbox_numbers_events_per_call_and_survives_a_new_process(db: Database) -> None:
    session = await _session(db)
    outbox = Outbox()
    async with db.session() as s:
        seqs = [_seq(await outbox.stage(s, session, "CallState", {}, call)) for call in ("a", "b", "a", "a", None)]
        await s.commit()
    assert seqs == [1, 1, 2, 3, 1]
    async with db.session() as s:  # a restarted process continues where the table ends
        assert _seq(await Outbox().stage(s, session, "CallState", {}, "a")) == 4
        await s.commit()


async def test_outbox_skips_events_nobody_would_receive(db: Database) -> None:
    session = await _session(db)
    outbox = Outbox()
    async with db.session() as s:
        assert await outbox.stage(s, session, "Unclassified", {}, "a") is None
        session.subscribe = ["All"]
        assert await outbox.stage(s, session, "Unclassified", {}, "a") is not None
        session.connected = False
        assert await outbox.stage(s, session, "CallState", {}, "a") is None


async def test_a_rolled_back_transaction_leaves_no_event(db: Database) -> None:
    session = await _session(db)
    async with db.session() as s:
        await Outbox().stage(s, session, "CallState", {}, "a")
        await s.rollback()
    async with db.session() as s:
        assert list(await s.scalars(select(OutboxRow))) == []


def _seq(row: OutboxRow | None) -> int:
    assert row is not None, "the event was not staged"
    return row.seq
