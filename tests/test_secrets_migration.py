"""The database side of secrets at rest, on the configured backend: migration 0002 encrypts what the previous
schema kept in clear, and keys given by CALLBRIDGE_SECRET_KEY rotate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from callbridge.sessions import token_digest
from callbridge.store import Database, SecretBox, SecretKeyError
from callbridge.store.db import alembic_config
from callbridge.store.models import SessionRow
from tests.support.at_rest import NUMBER, SECRETS, TOKEN, WEBHOOK_SECRET, cli, raw_rows, revealed, sqlite_files
from tests.support.database import secret_box

pytestmark = pytest.mark.store

CLOUD = {
    "phone_number_id": NUMBER.phone_number_id,
    "access_token": NUMBER.access_token,
    "app_secret": NUMBER.app_secret,
    "verify_token": NUMBER.verify_token,
    "graph_url": "https://graph.facebook.com",
}
# The sessions table as revision 0001 made it.
OLD_SESSIONS = sa.table(
    "sessions",
    *(sa.column(name, sa.String()) for name in ("name", "token", "token_digest", "os_name", "webhook_secret")),
    sa.column("cloud", sa.JSON()),
    sa.column("subscribe", sa.JSON()),
    sa.column("phone_number_id", sa.String()),
    sa.column("connected", sa.Boolean()),
    sa.column("logged_in", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def old_row(name: str, token: str, cloud: dict[str, str] | None, webhook_secret: str | None) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "name": name,
        "token": token,
        "token_digest": token_digest(token),
        "os_name": "",
        "webhook_secret": webhook_secret,
        "cloud": cloud,
        "subscribe": ["All"],
        "phone_number_id": cloud["phone_number_id"] if cloud else None,
        "connected": False,
        "logged_in": False,
        "created_at": now,
        "updated_at": now,
    }


async def revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def test_the_migration_encrypts_a_database_of_the_previous_schema(database_url: str) -> None:
    db = Database(database_url, secret_box())
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0001"))
            rows = [old_row("vault", TOKEN, CLOUD, WEBHOOK_SECRET), old_row("bare", "bare-token", None, None)]
            await conn.execute(sa.insert(OLD_SESSIONS), rows)
        assert revealed(await raw_rows(database_url)) == list(SECRETS)  # the clear rows of before

        await db.migrate()
        assert await revision(db) == ScriptDirectory.from_config(alembic_config()).get_current_head()
        files = b"".join(p.read_bytes() for p in sqlite_files(database_url))  # free pages and WAL included
        assert revealed(await raw_rows(database_url)) == [] and revealed(files) == []

        async with db.session() as s:
            vault = await s.scalar(select(SessionRow).where(SessionRow.token_digest == token_digest(TOKEN)))
            bare = await s.scalar(select(SessionRow).where(SessionRow.name == "bare"))
        assert vault is not None and bare is not None
        assert (vault.token, vault.cloud, vault.webhook_secret) == (TOKEN, CLOUD, WEBHOOK_SECRET)
        assert (bare.token, bare.cloud, bare.webhook_secret) == ("bare-token", None, None)
    finally:
        await db.close()

    stranger = Database(database_url, SecretBox.generate())
    try:
        with pytest.raises(SecretKeyError, match="does not decrypt sessions"):
            await stranger.migrate()
    finally:
        await stranger.close()


async def _store_session(database_url: str, box: SecretBox) -> None:
    db = Database(database_url, box)
    try:
        await db.migrate()
        async with db.session() as s:
            s.add(
                SessionRow(
                    name="vault",
                    token=TOKEN,
                    token_digest=token_digest(TOKEN),
                    cloud=CLOUD,
                    webhook_secret=WEBHOOK_SECRET,
                    subscribe=["All"],
                )
            )
            await s.commit()
    finally:
        await db.close()


async def _read_session(database_url: str, box: SecretBox) -> tuple[str, dict[str, str] | None, str | None]:
    db = Database(database_url, box)
    try:
        await db.migrate()
        async with db.session() as s:
            row = await s.scalar(select(SessionRow))
        assert row is not None
        return row.token, row.cloud, row.webhook_secret
    finally:
        await db.close()


def test_keys_from_the_environment_rotate_to_the_first_one(tmp_path: Path, database_url: str) -> None:
    old, new = SecretBox.new_key(), SecretBox.new_key()
    asyncio.run(_store_session(database_url, SecretBox([old])))
    where = {"data_dir": str(tmp_path / "data"), "database_url": database_url}

    alone = cli("secrets", "rotate", secret_key=old, **where)
    assert alone.returncode == 2 and "holds one key" in alone.stderr, alone.stderr

    rotated = cli("secrets", "rotate", secret_key=f"{new},{old}", **where)
    assert rotated.returncode == 0, rotated.stderr
    assert "now remove the others from CALLBRIDGE_SECRET_KEY" in rotated.stdout
    assert asyncio.run(_read_session(database_url, SecretBox([new]))) == (TOKEN, CLOUD, WEBHOOK_SECRET)
    with pytest.raises(SecretKeyError):
        asyncio.run(_read_session(database_url, SecretBox([old])))
    assert not (tmp_path / "data" / "secret_key").exists()  # the environment's keys are the only ones
