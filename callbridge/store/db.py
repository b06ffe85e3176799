"""The database handle: an async engine, a session factory, and migrations run at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from callbridge.store import secret_columns
from callbridge.store.secrets import SecretBox, bind

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Revisions whose databases kept secrets in clear: leaving one rewrites the SQLite file (see _scrub_sqlite).
MIGRATION_LOCK = 0x6D696772  # advisory lock id serialising migrations on PostgreSQL ("migr")
CLEAR_SECRET_REVISIONS = {"0001"}


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the webhook dispatcher read while a request writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_sqlite_file(url: str) -> None:
    """Make the database file owner-only before SQLite opens it: SQLite gives its -wal and -shm files the
    database file's mode, so all three end up 0600 (existing ones from older versions are tightened too)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # an empty file is a valid new database
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            file.chmod(0o600)


class Database:
    """``secrets`` encrypts the secret columns; the same keys must open the database again."""

    def __init__(self, url: str, secrets: SecretBox) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.secrets = secrets
        if self.is_sqlite:
            _private_sqlite_file(url)
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30}} if self.is_sqlite else {"pool_pre_ping": True}
        # hide_parameters: error messages must not carry tokens and credentials into logs.
        self.engine: AsyncEngine = create_async_engine(url, hide_parameters=True, **kwargs)
        bind(self.engine.sync_engine.dialect, secrets)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision, then check that the key opens every stored secret
        (raises :class:`~callbridge.store.secrets.SecretKeyError` if not)."""
        async with self.engine.begin() as conn:
            if not self.is_sqlite:  # nodes starting together migrate one after the other (held until commit)
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            before = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            await conn.run_sync(lambda sync_conn: command.upgrade(alembic_config(sync_conn), "head"))
            await conn.run_sync(lambda sync_conn: secret_columns.check(sync_conn, self.secrets))
        if self.is_sqlite and before in CLEAR_SECRET_REVISIONS:
            await self._scrub_sqlite()

    async def _scrub_sqlite(self) -> None:
        """The clear values a migration replaced live on in free pages and in the WAL until overwritten: move
        everything into the file, rebuild it, and empty the WAL, so that a copy of the files holds none of them."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside transactions
            for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
                await conn.exec_driver_sql(statement)

    async def reencrypt(self) -> int:
        """Encrypt every secret again with the first key (key rotation); returns how many values were rewritten."""
        async with self.engine.begin() as conn:
            return await conn.run_sync(lambda sync_conn: secret_columns.reencrypt(sync_conn, self.secrets))

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
