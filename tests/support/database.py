"""A fresh database per test: a SQLite file, or a new PostgreSQL database when
``CALLBRIDGE_TEST_DATABASE_URL`` points at a server (``postgresql+asyncpg://user:pw@host/db``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from callbridge.store import SecretBox
from callbridge.testing.postgres import throwaway_database

POSTGRES_URL = os.environ.get("CALLBRIDGE_TEST_DATABASE_URL")
# The key the tests' gateways encrypt their secrets with: one for all, because several gateways (and the test
# process itself, tests/support/outbox.py) may open the same database.
SECRET_KEY = "jbzoELazeoDE5YfndwusXMeV4rdBUtGTtT9epH2lSVE="


def secret_box() -> SecretBox:
    return SecretBox([SECRET_KEY])


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    if not POSTGRES_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'callbridge-test.db'}"
        return
    with throwaway_database(POSTGRES_URL) as url:
        yield url
