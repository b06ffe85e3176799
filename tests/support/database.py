"""A fresh database per test: a SQLite file, or a new PostgreSQL database when
``CALLBRIDGE_TEST_DATABASE_URL`` points at a server (``postgresql+asyncpg://user:pw@host/db``)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from callbridge.store import SecretBox

POSTGRES_URL = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL")
# The key the tests' gateways encrypt their secrets with: one for all, because several gateways (and the test
# process itself, tests/support/outbox.py) may open the same database.
SECRET_KEY = "jbzoELazeoDE5YfndwusXMeV4rdBUtGTtT9epH2lSVE="


def secret_box() -> SecretBox:
    return SecretBox([SECRET_KEY])


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    if not POSTGRES_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'callbridge-test.db'}"
        return
    name = f"cb_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
