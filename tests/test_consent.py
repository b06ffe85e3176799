"""ICE consent (RFC 7675) survives a peer that answers late: two real aioice agents on loopback, the answering
one holding its STUN answers back 0.8 s (aioice alone gives up on a check after 0.5 s)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aioice.ice
import pytest
from aioice import Connection, stun

from callbridge.media import consent

SLOW = 0.8  # seconds the late peer waits before it answers
ORIGINAL = aioice.ice.Connection.query_consent  # aioice's own (the gateway installs ours at start)


@pytest.fixture
def fast_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.5)  # consent lasts 3 s without answers instead of 30
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


async def connected_pair() -> tuple[Connection, Connection]:
    checker, answerer = Connection(ice_controlling=True), Connection(ice_controlling=False)
    await asyncio.gather(checker.gather_candidates(), answerer.gather_candidates())
    for local, remote in ((checker, answerer), (answerer, checker)):
        local.remote_username, local.remote_password = remote.local_username, remote.local_password
        for candidate in remote.local_candidates:
            await local.add_remote_candidate(candidate)
        await local.add_remote_candidate(None)
    await asyncio.gather(checker.connect(), answerer.connect())
    return checker, answerer


def answer_late(connection: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    """The peer's binding responses leave SLOW seconds late (requests it sends itself go at once)."""
    for protocol in connection._protocols:
        send = protocol.send_stun

        def late(message: stun.Message, addr: tuple[str, int], send: Callable[..., Any] = send) -> None:
            if message.message_class == stun.Class.RESPONSE:
                asyncio.get_running_loop().call_later(SLOW, send, message, addr)
            else:
                send(message, addr)

        monkeypatch.setattr(protocol, "send_stun", late)


def has_consent(connection: Connection) -> bool:
    task = connection._query_consent_task
    return task is not None and not task.done()


async def lost_within(connection: Connection, seconds: float) -> bool:
    """Whether consent is given up within ``seconds`` (polled, so a loaded machine only makes it slower)."""
    for _ in range(int(seconds / 0.1)):
        if not has_consent(connection):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_late_answers_keep_consent(fast_consent: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", consent.query_consent)
    checker, answerer = await connected_pair()
    answer_late(answerer, monkeypatch)
    try:
        assert not await lost_within(checker, 7.0)  # more than twice the 3 s window, every answer 0.8 s late
    finally:
        await checker.close()
        await answerer.close()


async def test_without_the_fix_late_answers_lose_consent(fast_consent: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the fix is for: aioice's own check gives up after 0.5 s, so this connection closes."""
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", ORIGINAL)
    checker, answerer = await connected_pair()
    answer_late(answerer, monkeypatch)
    try:
        assert await lost_within(checker, 20.0)
    finally:
        await checker.close()
        await answerer.close()


async def test_consent_still_expires_when_nothing_answers(fast_consent: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice.Connection, "query_consent", consent.query_consent)
    checker, answerer = await connected_pair()
    for protocol in answerer._protocols:
        monkeypatch.setattr(protocol, "send_stun", lambda message, addr: None)
    try:
        assert await lost_within(checker, 20.0)  # nothing answered for longer than the window: given up
    finally:
        await checker.close()
        await answerer.close()
