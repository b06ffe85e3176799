"""The emulator's parts on their own: Meta's webhook payloads, background tasks, and the package's imports."""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callbridge.emulator import webhook_payloads as payloads
from callbridge.emulator.background import spawn
from callbridge.emulator.model import EmuCall, Number, Permission, User
from callbridge.emulator.peer import UserPeer

PACKAGE = Path(__file__).resolve().parent.parent / "callbridge" / "emulator"


def emulator_imports() -> dict[str, set[str]]:
    """Each emulator module and the emulator modules it imports, TYPE_CHECKING and function-level ones included."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "callbridge.emulator":
                    found.update(f"callbridge.emulator.{alias.name}" for alias in node.names)
                else:
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[path.stem] = {
            name.removeprefix("callbridge.emulator.") for name in found if name.startswith("callbridge.")
        }
    return graph


def test_the_emulator_imports_nothing_else_of_callbridge() -> None:
    graph = emulator_imports()
    assert {name for names in graph.values() for name in names} <= set(graph)


def test_the_emulator_has_no_import_cycle() -> None:
    graph = emulator_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for imported in graph.get(module, ()):
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())


@pytest.fixture
async def peer() -> AsyncIterator[UserPeer]:
    peer = UserPeer()
    yield peer
    await peer.close()


def a_call(peer: UserPeer, direction: str) -> EmuCall:
    number = Number("pn1", "+15550001", "token", "secret", "verify", "http://127.0.0.1:9/webhook")
    return EmuCall("wacid.1", number, User("4915100000001", name="Alice"), direction, peer)


async def test_a_users_call_introduces_the_user_and_carries_their_offer(peer: UserPeer) -> None:
    value = payloads.connect_value(a_call(peer, "USER_INITIATED"), "offer", "v=0")
    assert value["contacts"] == [{"profile": {"name": "Alice"}, "wa_id": "4915100000001"}]
    [connect] = value["calls"]
    assert (connect["from"], connect["to"], connect["event"]) == ("4915100000001", "+15550001", "connect")
    assert connect["session"] == {"sdp_type": "offer", "sdp": "v=0"}


async def test_a_business_call_is_answered_without_contacts(peer: UserPeer) -> None:
    value = payloads.connect_value(a_call(peer, "BUSINESS_INITIATED"), "answer", "v=0")
    assert "contacts" not in value
    [connect] = value["calls"]
    assert (connect["from"], connect["to"], connect["direction"]) == (
        "+15550001",
        "4915100000001",
        "BUSINESS_INITIATED",
    )


async def test_only_an_answered_call_ends_with_its_times(peer: UserPeer) -> None:
    call = a_call(peer, "USER_INITIATED")
    call.ended_at = time.time()
    [unanswered] = payloads.terminate_value(call, "FAILED", [{"code": 138021}])["calls"]
    assert "duration" not in unanswered
    assert unanswered["errors"] == [{"code": 138021}]
    call.accepted_at = call.ended_at - 12.2
    [answered] = payloads.terminate_value(call, "COMPLETED")["calls"]
    assert answered["duration"] == 12
    assert answered["end_time"] == str(int(call.ended_at))
    assert "errors" not in answered


async def test_webhooks_arrive_in_metas_envelope(peer: UserPeer) -> None:
    call = a_call(peer, "BUSINESS_INITIATED")
    payload = payloads.envelope(call.number, "calls", payloads.status_value(call, "RINGING"))
    [entry] = payload["entry"]
    [change] = entry["changes"]
    assert (payload["object"], entry["id"], change["field"]) == (
        "whatsapp_business_account",
        "100000000000001",
        "calls",
    )
    assert change["value"]["metadata"] == {"display_phone_number": "+15550001", "phone_number_id": "pn1"}
    assert change["value"]["statuses"][0]["recipient_id"] == "4915100000001"


def test_a_permission_reply_accepts_with_the_expiry_or_rejects() -> None:
    user = User("4915100000001")
    permission = Permission.given_now("temporary")
    accepted = payloads.permission_reply_value(user, permission)["messages"][0]["interactive"]
    assert accepted["call_permission_reply"]["expiration_timestamp"] == permission.expires_at
    rejected = payloads.permission_reply_value(user, None)["messages"][0]["interactive"]
    assert rejected["call_permission_reply"] == {"response": "reject", "response_source": "user_action"}


async def test_a_spawned_task_is_kept_until_it_is_done() -> None:
    kept: set[asyncio.Task[int]] = set()
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 7

    task = spawn(work(), kept)
    assert kept == {task}
    release.set()
    assert await task == 7
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert kept == set()
