"""Call permissions as Meta keeps them: Meta's "Obtain User Call Permissions" page (developers.facebook.com/
documentation/business-messaging/whatsapp/calling/user-call-permissions, Nov 2025) for the limits, the reply
webhook and GET call_permissions; its troubleshooting page for the codes (138006 HTTP 401; 138009, 138012, 138017
HTTP 400)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from callbridge.emulator.errors import EmulatorError
from callbridge.emulator.permissions import DAY, Pair, Permission
from callbridge.testing import Emulator, wait_until
from tests.test_emulator_kit import Business, BusinessLeg, MetaSink


def refused(action: Any, *args: Any) -> EmulatorError:
    with pytest.raises(EmulatorError) as error:
        action(*args)
    return error.value


def test_permission_requests_are_limited_to_1_a_day_and_2_a_week_until_a_call_connects() -> None:
    pair, now = Pair(), 1_000_000.0
    pair.check_request(now)
    pair.requests.append(now)
    error = refused(pair.check_request, now + 60)
    assert (error.status, error.code) == (400, 138009) and str(int(now + DAY)) in (error.details or "")
    pair.check_request(now + DAY + 1)
    pair.requests.append(now + DAY + 1)
    assert refused(pair.check_request, now + 3 * DAY).code == 138009  # 2 in 7 days
    pair.check_request(now + 7 * DAY + 1)  # the first has left the week
    pair.connected(now + 2 * DAY, business_initiated=False)  # any connected call resets both limits
    pair.check_request(now + 2 * DAY)


def test_the_permission_state_is_computed_from_the_history() -> None:
    pair, now = Pair(), 1_000_000.0
    state = pair.state(now)
    assert state["permission"] == {"status": "no_permission"}
    request, call = state["actions"]
    assert (request["action_name"], request["can_perform_action"]) == ("send_call_permission_request", True)
    assert (call["action_name"], call["can_perform_action"]) == ("start_call", False)
    pair.requests.append(now)
    pair.permission = Permission("temporary", int(now + 7 * DAY))
    [day, week] = pair.state(now)["actions"][0]["limits"]
    assert day == {"time_period": "PT24H", "max_allowed": 1, "current_usage": 1, "limit_expiration_time": now + DAY}
    assert week == {"time_period": "P7D", "max_allowed": 2, "current_usage": 1}  # no expiry below the maximum
    assert pair.state(now)["actions"][0]["can_perform_action"] is False
    assert pair.state(now)["permission"]["expiration_time"] == int(now + 7 * DAY)


def test_business_calls_need_a_permission_and_stay_under_100_connected_a_day() -> None:
    pair, now = Pair(), time.time()
    error = refused(pair.check_call, now)
    assert (error.status, error.code) == (401, 138006)
    pair.permission = Permission.given_now("permanent")
    for n in range(100):
        pair.connected(now - 3600 + n, business_initiated=True)
    error = refused(pair.check_call, now)
    assert (error.status, error.code) == (400, 138012) and str(int(now - 3600 + DAY)) in (error.details or "")
    assert pair.state(now)["actions"][1]["limits"][0]["current_usage"] == 100
    assert refused(pair.check_request, now).code == 138017  # a permanent permission needs no request


def test_four_unanswered_business_calls_in_a_row_revoke_the_permission() -> None:
    pair = Pair(permission=Permission.given_now("temporary"))
    assert [pair.not_answered() for _ in range(3)] == [False, False, False]
    pair.connected(time.time(), business_initiated=True)  # an answered call starts the count again
    assert [pair.not_answered() for _ in range(4)] == [False, False, False, True]
    assert not pair.permission.granted()


# ---- over HTTP ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[MetaSink]:
    with MetaSink() as sink:
        yield sink


def request_body(to: str, text: str | None = None) -> dict[str, Any]:
    interactive: dict[str, Any] = {"type": "call_permission_request", "action": {"name": "call_permission_request"}}
    if text is not None:
        interactive["body"] = {"text": text}
    return {"messaging_product": "whatsapp", "to": to, "type": "interactive", "interactive": interactive}


def replies(business: Business, wa_id: str) -> list[dict[str, Any]]:
    messages = [v["messages"][0] for v in business.webhooks("messages")]
    return [m for m in messages if m["from"] == wa_id]


def test_a_request_without_body_text_is_answered_with_metas_reply_fields(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink)
    uma = business.user(permission="no_permission", grants="permanent")
    r = business.graph("POST", "messages", request_body(uma))  # Meta: the body text is optional
    assert r.status_code == 200, r.text
    message_id = r.json()["messages"][0]["id"]
    [reply] = wait_until(lambda: replies(business, uma), what="the reply")
    assert reply["context"] == {"from": uma, "id": message_id}
    assert reply["interactive"]["call_permission_reply"] == {
        "response": "accept",
        "is_permanent": True,
        "response_source": "user_action",
    }
    state = business.graph("GET", "call_permissions", user_wa_id=uma).json()
    assert state["permission"] == {"status": "permanent"}
    assert [a["can_perform_action"] for a in state["actions"]] == [False, True]
    r = business.graph("POST", "messages", request_body(uma, "Again?"))
    assert r.status_code == 400 and r.json()["error"]["code"] == 138017


def test_a_second_request_the_same_day_is_refused(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink)
    vera = business.user(permission="no_permission", grant_permission=False)
    assert business.graph("POST", "messages", request_body(vera, "May we call?")).status_code == 200
    [reply] = wait_until(lambda: replies(business, vera), what="the reply")
    assert reply["interactive"]["call_permission_reply"] == {"response": "reject", "response_source": "user_action"}
    r = business.graph("POST", "messages", request_body(vera, "Please?"))
    assert r.status_code == 400 and r.json()["error"]["code"] == 138009
    request = business.graph("GET", "call_permissions", user_wa_id=vera).json()["actions"][0]
    assert request["can_perform_action"] is False and request["limits"][0]["current_usage"] == 1


@pytest.mark.parametrize("callback", ["ENABLED", "DISABLED"])
def test_a_users_call_grants_a_callback_permission_where_the_number_enables_it(
    emulator: Emulator, sink: MetaSink, callback: str
) -> None:
    business = Business(emulator, sink, calling={"callback_permission_status": callback})
    walt = business.user(permission="no_permission")
    call_id = business.user_calls(walt).json()["call_id"]
    state = business.graph("GET", "call_permissions", user_wa_id=walt).json()
    if callback == "DISABLED":
        assert state["permission"] == {"status": "no_permission"}
        time.sleep(0.5)
        assert replies(business, walt) == []
    else:
        assert state["permission"]["status"] == "temporary" and state["permission"]["expiration_time"]
        [reply] = wait_until(lambda: replies(business, walt), what="the automatic reply")
        assert reply["context"] == {"from": walt, "id": call_id}  # Meta: the call's id
        body = reply["interactive"]["call_permission_reply"]
        assert body["response_source"] == "automatic" and body["is_permanent"] is False
        assert body["expiration_timestamp"] == str(state["permission"]["expiration_time"])
    emulator.client.post(f"/emulator/calls/{call_id}/hangup")


async def test_four_declined_business_calls_revoke_with_an_automatic_reply(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink)
    xena = business.user(reject=True, answer_after_ms=0)
    leg = BusinessLeg()
    try:
        for _ in range(4):
            r = await asyncio.to_thread(business.connect, xena, await leg.offer())
            assert r.status_code == 200, r.text
            call_id = r.json()["calls"][0]["id"]
            await asyncio.to_thread(
                wait_until, lambda c=call_id: emulator.call(c)["state"] == "ended", 10, 0.05, "the rejection"
            )
        [revoked] = await asyncio.to_thread(wait_until, lambda: replies(business, xena), 10, 0.1, "the revocation")
        assert revoked["interactive"]["call_permission_reply"] == {"response": "reject", "response_source": "automatic"}
        assert "context" not in revoked
        r = await asyncio.to_thread(business.connect, xena, await leg.offer())
        assert r.status_code == 401 and r.json()["error"]["code"] == 138006
    finally:
        await leg.close()
