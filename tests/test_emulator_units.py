"""The emulator's parts on their own: Meta's webhook payloads, background tasks, and the package's imports.

Payload shapes: Meta's "User-initiated calls", "Business-Initiated Calls" and "Obtain User Call Permissions" pages
(developers.facebook.com/documentation/business-messaging/whatsapp/calling/...)."""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callbridge.emulator import webhook_payloads as payloads
from callbridge.emulator.background import spawn
from callbridge.emulator.errors import media_receive_timeout
from callbridge.emulator.model import EmuCall, Number, User
from callbridge.emulator.peer import UserPeer
from callbridge.emulator.permissions import Permission

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


async def test_a_business_call_is_answered_with_the_users_wa_id_in_contacts(peer: UserPeer) -> None:
    """Business-Initiated Calls page, "Call connect webhook": contacts holds the callee's wa_id (no profile)."""
    call = a_call(peer, "BUSINESS_INITIATED")
    value = payloads.connect_value(call, "answer", "v=0")
    assert value["contacts"] == [{"wa_id": "4915100000001"}]
    [connect] = value["calls"]
    assert (connect["from"], connect["to"], connect["direction"]) == (
        "+15550001",
        "4915100000001",
        "BUSINESS_INITIATED",
    )
    assert "biz_opaque_callback_data" not in connect  # only when the business sent some
    call.callback_data = "order-17"
    [connect] = payloads.connect_value(call, "answer", "v=0")["calls"]
    assert connect["biz_opaque_callback_data"] == "order-17"
    [status] = payloads.status_value(call, "RINGING")["statuses"]
    assert status["biz_opaque_callback_data"] == "order-17"
    [terminate] = payloads.terminate_value(call, "COMPLETED")["calls"]
    assert terminate["biz_opaque_callback_data"] == "order-17"


async def test_only_an_answered_call_ends_with_its_times(peer: UserPeer) -> None:
    call = a_call(peer, "USER_INITIATED")
    call.ended_at = time.time()
    [unanswered] = payloads.terminate_value(call, "COMPLETED")["calls"]
    assert "duration" not in unanswered and "start_time" not in unanswered
    call.accepted_at = call.ended_at - 12.2
    [answered] = payloads.terminate_value(call, "COMPLETED")["calls"]
    assert answered["duration"] == 12
    assert answered["end_time"] == str(int(call.ended_at))
    assert "errors" not in answered


async def test_a_failed_call_carries_its_errors_in_value_and_in_the_call(peer: UserPeer) -> None:
    """Meta's terminate webhook sample puts errors (code, message, href, error_data.details) beside calls; real
    deliveries repeat them in the call object."""
    call = a_call(peer, "USER_INITIATED")
    call.ended_at = time.time()
    error = media_receive_timeout(20)
    value = payloads.terminate_value(call, "FAILED", [error])
    assert value["errors"] == [error] and value["calls"][0]["errors"] == [error]
    assert value["calls"][0]["status"] == "FAILED"
    assert error["code"] == 138021 and error["message"] == "Media receive timeout"
    assert error["href"].startswith("https://developers.facebook.com/") and error["error_data"]["details"]


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


def test_permission_replies_are_shaped_like_metas_samples() -> None:
    """ "User call permission reply webhook" samples: temporary, permanent, rejected, automatic, revoked."""
    user = User("4915100000001")
    temporary = Permission.given_now("temporary")
    assert payloads.permission_reply(temporary) == {
        "response": "accept",
        "is_permanent": False,
        "expiration_timestamp": str(temporary.expires_at),
        "response_source": "user_action",
    }
    assert payloads.permission_reply(Permission.given_now("permanent")) == {
        "response": "accept",
        "is_permanent": True,
        "response_source": "user_action",
    }
    assert payloads.permission_reply(None) == {"response": "reject", "response_source": "user_action"}
    assert payloads.permission_reply(temporary, "automatic")["response_source"] == "automatic"

    [message] = payloads.permission_reply_value(user, payloads.permission_reply(None), "wamid.REQ")["messages"]
    assert message["context"] == {"from": "4915100000001", "id": "wamid.REQ"}
    assert message["interactive"]["type"] == "call_permission_reply"
    [revoked] = payloads.permission_reply_value(user, payloads.permission_reply(None, "automatic"), None)["messages"]
    assert "context" not in revoked


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
