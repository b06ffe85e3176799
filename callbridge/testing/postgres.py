"""A throwaway PostgreSQL database: created on a server you name, dropped afterwards (open connections and all),
for tests and benchmarks that need the real engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit


@contextmanager
def throwaway_database(server_url: str, prefix: str = "cb_test") -> Iterator[str]:
    """A new database on the server of ``server_url`` (``postgresql+asyncpg://user:pw@host/db``, a role that may
    create databases); yields its URL in the same form and drops it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> None:
    import asyncpg  # PostgreSQL's driver: only those who use this need it loaded

    parsed = urlsplit(url)
    conn = await asyncpg.connect(
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.path.lstrip("/"),
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
