"""Meta's webhook at the gateway: handshake, signatures, and deliveries that repeat and come out of order."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.support.emulator import Scene
from tests.support.gateway import GatewayProcess
from tests.support.net import wait_until


def signed(secret: str, payload: object) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


def terminate_payload(scene: Scene, call_id: str) -> dict:
    """What Meta would send when the user hangs up: built like the emulator's, but by hand."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "calls",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000000",
                                "phone_number_id": scene.phone_number_id,
                            },
                            "calls": [
                                {
                                    "id": call_id,
                                    "event": "terminate",
                                    "status": "COMPLETED",
                                    "direction": "BUSINESS_INITIATED",
                                    "from": "15550000000",
                                    "to": "1",
                                    "timestamp": "1",
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def test_the_subscription_handshake(scene: Scene) -> None:
    verify = scene.gateway.client.get
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verify-wrong"}
    assert verify("/whatsapp/webhook", params=params).status_code == 403
    verify_token = f"verify-{scene.token.rsplit('-', 1)[1]}"
    r = verify("/whatsapp/webhook", params={**params, "hub.verify_token": verify_token})
    assert r.status_code == 200 and r.text == "1158201444"
    assert (
        verify("/whatsapp/webhook", params={**params, "hub.mode": "x", "hub.verify_token": verify_token}).status_code
        == 403
    )


def test_forged_webhooks_are_refused_and_change_nothing(scene: Scene) -> None:
    alice = scene.user(answer_after_ms=200)
    call_id = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    post = scene.gateway.client.post

    payload = terminate_payload(scene, call_id)
    body, headers = signed("not-the-app-secret", payload)
    assert post("/whatsapp/webhook", content=body, headers=headers).status_code == 401
    assert post("/whatsapp/webhook", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    good_body, good_headers = signed(scene.app_secret, payload)
    assert post("/whatsapp/webhook", content=good_body + b" ", headers=good_headers).status_code == 401  # tampered
    # Whatever the body holds, a request not signed with the app secret learns nothing but 401.
    for junk in (b"{nope", b"[]", b"{}", b"[" * 100_000 + b"]" * 100_000):
        assert post("/whatsapp/webhook", content=junk, headers=good_headers).status_code == 401
    unknown = terminate_payload(scene, call_id)
    unknown["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999"
    body, headers = signed("not-the-app-secret", unknown)
    assert post("/whatsapp/webhook", content=body, headers=headers).status_code == 401  # no oracle for bound numbers

    assert scene.call_status(call_id)["State"] == "active"
    assert scene.events(call_id, "CallTerminate") == []

    # The same payload, correctly signed, is obeyed.
    assert post("/whatsapp/webhook", content=good_body, headers=good_headers).status_code == 200
    assert scene.wait_event(call_id, "CallTerminate")["Reason"] == f"hung up by {alice}"


def test_signed_deliveries_we_cannot_use_are_acknowledged_and_change_nothing(scene: Scene) -> None:
    """Meta retries what it does not see acknowledged and in the end disables the subscription, so a signed
    delivery of any shape gets 200 (or 400 when it is not JSON at all), never a 500 or a 404."""
    alice = scene.user(answer_after_ms=200)
    call_id = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    unknown_number = terminate_payload(scene, call_id)
    unknown_number["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999"
    odd_types = terminate_payload(scene, call_id)
    odd_types["entry"][0]["changes"][0]["value"]["calls"] = "not a list"
    template_status = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "message_template_status_update",
                        "value": {"event": "APPROVED", "message_template_id": 1},
                    }
                ],
            }
        ],
    }
    acknowledged = [
        {},
        [],
        "text",
        {"entry": [{"changes": [{"value": {"metadata": "x"}}]}]},
        {"entry": "x"},
        template_status,
        unknown_number,
        odd_types,
    ]
    for payload in acknowledged:
        body, headers = signed(scene.app_secret, payload)
        r = scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers)
        assert r.status_code == 200, (payload, r.text)
    for junk in (b"{nope", b"[" * 100_000 + b"]" * 100_000):
        signature = "sha256=" + hmac.new(scene.app_secret.encode(), junk, hashlib.sha256).hexdigest()
        r = scene.gateway.client.post("/whatsapp/webhook", content=junk, headers={"X-Hub-Signature-256": signature})
        assert r.status_code == 400, r.text
    assert scene.call_status(call_id)["State"] == "active"
    assert "Traceback" not in scene.gateway.log()


def test_a_field_of_the_wrong_type_is_skipped_not_the_delivery(scene: Scene) -> None:
    alice = scene.user(answer_after_ms=200)
    call_id = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    payload = terminate_payload(scene, call_id)
    payload["entry"][0]["changes"][0]["value"]["calls"][0]["duration"] = int("9" * 4000)
    body, headers = signed(scene.app_secret, payload)
    assert scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
    ended = scene.wait_event(call_id, "CallTerminate")
    assert ended["Reason"] == f"hung up by {alice}" and ended["Duration"] < 60  # measured by us, not Meta's junk


def test_a_forged_incoming_call_creates_nothing(scene: Scene) -> None:
    payload = terminate_payload(scene, "wacid.forged")
    payload["entry"][0]["changes"][0]["value"]["calls"][0].update(
        event="connect", direction="USER_INITIATED", session={"sdp_type": "offer", "sdp": "v=0"}
    )
    body, headers = signed("guessed-secret", payload)
    assert scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 401
    assert scene.gateway.get("/call/status", token=scene.token, params={"CallID": "wacid.forged"}).status_code == 404


@pytest.fixture
def scrambled(call_gateway: GatewayProcess, emulator, receiver) -> Scene:
    return Scene(call_gateway, emulator, receiver).setup(scramble=True)


def test_reversed_and_repeated_webhooks_give_one_clean_outgoing_call(scrambled: Scene) -> None:
    scene = scrambled
    bob = scene.user(answer_after_ms=0, say="tone:440")  # connect, RINGING and ACCEPTED arrive reversed, twice
    call_id = scene.post("/call/make", {"Phone": bob}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    wait_until(lambda: scene.emulator.call(call_id)["heard"]["seconds"] > 1, what="media despite the reordering")
    wait_until(lambda: scene.emulator.call(call_id)["media"] == "connected", what="the user's media to connect")
    scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")
    scene.wait_event(call_id, "CallTerminate")
    sent = [w for w in scene.emulator.client.get("/emulator/webhooks").json()["webhooks"] if call_id in json.dumps(w)]
    assert len(sent) >= 4  # connect, RINGING, ACCEPTED, terminate
    wait_until(lambda: scene.call_status(call_id)["State"] == "ended", what="the call to end")
    scene.wait_event(call_id, "CallState", Event="ended")  # delivered just after CallTerminate, in order
    kinds = [e["type"] for e in scene.events(call_id)]
    assert kinds.count("CallAccept") == 1 and kinds.count("CallTerminate") == 1
    assert [e["Event"] for e in scene.events(call_id, "CallState")] == ["ringing", "active", "ended"]


def test_reversed_and_repeated_webhooks_give_one_clean_incoming_call(scrambled: Scene) -> None:
    scene = scrambled
    carol = scene.user()
    call_id = scene.user_calls(carol)
    scene.wait_event(call_id, "CallOffer")
    assert scene.post("/call/accept", {"CallID": call_id}).status_code == 200
    scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")
    scene.wait_event(call_id, "CallTerminate")
    kinds = [e["type"] for e in scene.events(call_id)]
    assert kinds.count("CallOffer") == 1 and kinds.count("CallTerminate") == 1


def test_a_hang_up_that_overtakes_the_offer_still_ends_the_call(scene: Scene) -> None:
    call_id = "wacid.overtaken"
    terminate = terminate_payload(scene, call_id)
    terminate["entry"][0]["changes"][0]["value"]["calls"][0].update(
        direction="USER_INITIATED", **{"from": "15550007777"}
    )
    connect = terminate_payload(scene, call_id)
    connect["entry"][0]["changes"][0]["value"]["calls"][0].update(
        event="connect",
        direction="USER_INITIATED",
        session={"sdp_type": "offer", "sdp": "v=0\r\n"},
        **{"from": "15550007777"},
    )
    for payload in (terminate, connect):  # delivered in the wrong order
        body, headers = signed(scene.app_secret, payload)
        assert scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
    ended = scene.wait_event(call_id, "CallTerminate")
    assert ended["Reason"] == "15550007777 hung up before the call was accepted"
    assert scene.call_status(call_id)["State"] == "ended"


def test_a_failed_calls_errors_reach_the_end_reason_and_the_event(scene: Scene) -> None:
    """Meta lists a failed call's errors at value.errors (tests/test_meta_payloads.py names the pages)."""
    alice = scene.user(answer_after_ms=200)
    call_id = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    payload = terminate_payload(scene, call_id)
    value = payload["entry"][0]["changes"][0]["value"]
    value["calls"][0]["status"] = "FAILED"
    value["errors"] = [{"code": 138021, "title": "Media receive timeout", "message": "Media receive timeout"}]
    body, headers = signed(scene.app_secret, payload)
    assert scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
    reason = "WhatsApp reported the call failed: Media receive timeout (code 138021)"
    assert scene.wait_event(call_id, "CallTerminate")["Reason"] == reason
    assert scene.call_status(call_id)["EndReason"] == reason


def test_a_permission_reply_reaches_the_app_with_its_meaning(scene: Scene) -> None:
    dave = scene.user()
    reply = {
        "context": {"id": "wamid.request"},
        "from": dave,
        "id": "wamid.reply",
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {
                "response": "accept",
                "is_permanent": True,
                "response_source": "user_action",
            },
        },
    }
    payload = terminate_payload(scene, "unused")
    change = payload["entry"][0]["changes"][0]
    change["field"] = "messages"
    change["value"] = {"metadata": change["value"]["metadata"], "messages": [reply]}
    body, headers = signed(scene.app_secret, payload)
    assert scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
    event = scene.wait_event(None, "CallPermission", Phone=dave)
    assert (event["Response"], event["IsPermanent"], event["ResponseSource"], event["ContextID"]) == (
        "accept",
        True,
        "user_action",
        "wamid.request",
    )
    r = scene.gateway.get("/call/permission", token=scene.token, params={"Phone": dave})
    assert r.status_code == 200, r.text
    last = r.json()["data"]["LastReply"]  # beside WhatsApp's own state, which does not say how it came about
    assert (last["Response"], last["IsPermanent"], last["ResponseSource"]) == ("accept", True, "user_action")
