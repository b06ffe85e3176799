"""A session whose every secret is a distinctive string, what a copy of its database shows, and proof that a
gateway still opens those secrets (each one used for what it is for)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from callbridge.events.wago import signature_matches
from callbridge.store import Database, SecretBox
from callbridge.testing import BusinessNumber, Gateway, WebhookReceiver, connect_session, init_session, set_webhook
from callbridge.testing.server_process import clean_environment
from tests.support.graph import GraphStandIn
from tests.support.net import wait_until
from tests.support.outbox import enqueue

TOKEN = "sess-tok-Q7v2mZ9kLp4xR8wT"
NUMBER = BusinessNumber(
    "1000077",
    access_token="graph-tok-H3nB6yD1sF5jK0cV",
    app_secret="app-sec-W4eR7tY2uI9oP3aS",
    verify_token="verify-tok-Z8xC5vB1nM6qL2kJ",
)
WEBHOOK_SECRET = "hook-sec-G7fD3sA9pO1iU5yT"
SECRETS = (TOKEN, NUMBER.access_token, NUMBER.app_secret, NUMBER.verify_token, WEBHOOK_SECRET)


def provision(gw: Gateway, graph: GraphStandIn, receiver: WebhookReceiver) -> None:
    """A session, connected, with a signed webhook: every secret the gateway stores, through its API."""
    graph.numbers[NUMBER.phone_number_id] = (NUMBER.access_token, "+1 555-010-0077")
    init_session(gw.client, gw.admin_token, "vault", TOKEN, NUMBER.cloud(graph.url))
    connect_session(gw.client, TOKEN, subscribe=("Call",))
    set_webhook(gw.client, TOKEN, receiver.url, WEBHOOK_SECRET)


def assert_secrets_usable(gw: Gateway, graph: GraphStandIn, receiver: WebhookReceiver, database_url: str) -> None:
    """Each secret, read back by the gateway and used: the token in the webhook form, the webhook secret to sign
    it, the access token against the Graph API, the verify token in Meta's handshake, the app secret to check
    Meta's signature."""
    token = {"token": TOKEN}
    assert gw.get("/webhook", headers=token).json()["data"]["secret"] == WEBHOOK_SECRET
    before = len(graph.requests)
    connected = gw.post("/session/connect", headers=token, json={"Subscribe": ["Call"]})  # checks the credentials
    assert connected.status_code == 200, connected.text
    assert len(graph.requests) > before

    handshake = {"hub.mode": "subscribe", "hub.challenge": "4711", "hub.verify_token": NUMBER.verify_token}
    assert gw.get("/whatsapp/webhook", params=handshake).text == "4711"
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    for secret, status in ((NUMBER.app_secret, 200), ("another-app-secret", 401)):
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}
        assert gw.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == status

    seen = len(receiver.deliveries)
    enqueue(database_url, TOKEN, [("CallState", {"State": "ringing"}, "wacid.vault")], gateway_box(gw))
    wait_until(lambda: len(receiver.deliveries) > seen, what="the webhook delivery")
    delivery = receiver.deliveries[-1]
    assert delivery.token == TOKEN
    assert signature_matches(WEBHOOK_SECRET, delivery.body, delivery.headers["X-Callbridge-Signature"])


def gateway_box(gw: Gateway) -> SecretBox:
    """The key a gateway process uses: the tests' shared one, or the one it made in its data dir."""
    given = gw.env.get("CALLBRIDGE_SECRET_KEY")
    if given:
        return SecretBox(given.split(","))
    return SecretBox((Path(gw.env["CALLBRIDGE_DATA_DIR"]) / "secret_key").read_text().split())


def sqlite_files(database_url: str) -> list[Path]:
    """The SQLite database and its WAL and shared-memory files (those that exist); none for PostgreSQL."""
    if not database_url.startswith("sqlite"):
        return []
    path = Path(str(make_url(database_url).database))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


async def raw_rows(database_url: str) -> str:
    """Every row of every table as the database returns it, nothing decrypted: what a dump of it shows."""
    db = Database(database_url, SecretBox.generate())  # a key that opens nothing: raw SQL only
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            dumps = [repr((await conn.exec_driver_sql(f'SELECT * FROM "{table}"')).all()) for table in tables]
        return "\n".join(dumps)
    finally:
        await db.close()


async def sealed_values(database_url: str) -> list[str]:
    """The sessions' encrypted columns, as stored."""
    db = Database(database_url, SecretBox.generate())
    columns = "token_encrypted, cloud_encrypted, webhook_secret_encrypted"
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.exec_driver_sql(f"SELECT {columns} FROM sessions ORDER BY id")).all()
        return [value for row in rows for value in row if value is not None]
    finally:
        await db.close()


def revealed(data: bytes | str) -> list[str]:
    """The secrets that ``data`` holds in clear."""
    raw = data.encode() if isinstance(data, str) else data
    return [secret for secret in SECRETS if secret.encode() in raw]


def copy_reveals(database_url: str) -> list[str]:
    """The secrets a copy of the database shows: its files (SQLite, WAL included) or a dump of its rows."""
    files = b"".join(p.read_bytes() for p in sqlite_files(database_url))
    return revealed(files + asyncio.run(raw_rows(database_url)).encode())


def cli(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``callbridge ARGS`` with only the given settings (CALLBRIDGE_* variables, by setting name)."""
    env = clean_environment(**{f"CALLBRIDGE_{name.upper()}": value for name, value in settings.items()})
    command = [sys.executable, "-m", "callbridge", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
