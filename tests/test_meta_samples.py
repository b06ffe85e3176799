"""Meta's documented example webhooks, posted to a running gateway signed as Meta signs them: for each, the call's
state, end reason and the app's events.

Sources (transcribed; ids, numbers and placeholders replaced, comments removed):
- Meta, WhatsApp Cloud API Calling, "User-initiated calls" (developers.facebook.com/documentation/
  business-messaging/whatsapp/calling/user-initiated-calls), "Call connect webhook": the user's SDP offer. Meta's
  sample has neither ``direction`` nor ``contacts``, and names the business's number as ``from``; the caller's
  number is put there.
- Meta, "Business-Initiated Calls" (.../calling/business-initiated-calls), "Webhooks for business-initiated
  calling": the "Call status webhook" (``statuses`` with RINGING, ACCEPTED or REJECTED) and the "Call terminate
  webhook", whose ``status`` is written ``[FAILED | COMPLETED]`` (one of them is put there) and whose failed
  calls carry ``errors`` beside ``calls`` (``INT_CODE``/``ERROR_TITLE`` placeholders: Meta's 138021 from the
  troubleshooting page). The page says ``start_time``, ``end_time`` and ``duration`` are "only present when the
  call was picked up by the other party", so a call that was never picked up is sent without them.
- Meta, "User call permissions" (.../calling/user-call-permissions): the ``call_permission_reply`` message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from callbridge.testing import Scene, wait_until

WABA_ID = "366634483210360"


def post_signed(scene: Scene, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(scene.app_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}
    r = scene.gateway.client.post("/whatsapp/webhook", content=body, headers=headers)
    assert r.status_code == 200, r.text


def envelope(scene: Scene, field: str, value: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": "13175551399", "phone_number_id": scene.phone_number_id}
    change = {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}, "field": field}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [change],
            }
        ],
    }


# ---- User-initiated calls page --------------------------------------------------------------------------------

# A real offer's shape (the reference page's SDP section; StackOverflow q. 79710003): Meta's sample has a placeholder.
META_OFFER = (
    "v=0\r\no=- 1753115233717 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE audio\r\na=ice-lite\r\n"
    "m=audio 3484 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 127.0.0.1\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 3484 typ host generation 0\r\n"
    "a=ice-ufrag:MkBWnyZXw+wMTKqA\r\na=ice-pwd:X29zIx+RGAlhVLF1/lo0oQ==\r\n"
    "a=fingerprint:sha-256 D8:C5:3B:6E:A4:4A:1F:43:37:12:B0:9D:4F:0C:5E:77:91:63:"
    "25:96:6D:3B:0D:5F:4C:DE:34:80:3A:A5:11:6E\r\n"
    "a=setup:actpass\r\na=mid:audio\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=ptime:20\r\n"
)


def user_initiated_connect(scene: Scene, call_id: str, caller: str) -> dict[str, Any]:
    call = {
        "id": call_id,
        "to": "13175551399",
        "from": caller,
        "event": "connect",
        "timestamp": "1671644824",
        "session": {"sdp_type": "offer", "sdp": META_OFFER},
    }
    return envelope(scene, "calls", {"calls": [call]})


# ---- Business-Initiated Calls page ----------------------------------------------------------------------------


def call_status(scene: Scene, call_id: str, user: str, status: str, callback_data: str) -> dict[str, Any]:
    item = {
        "id": call_id,
        "timestamp": "1671644824",
        "type": "call",
        "status": status,
        "recipient_id": user,
        "recipient_user_id": "US.13491208655302741918",
        "recipient_parent_user_id": "US.ENT.11815799212886844830",
        "biz_opaque_callback_data": callback_data,
    }
    return envelope(scene, "calls", {"statuses": [item]})


def call_terminate(
    scene: Scene,
    call_id: str,
    user: str,
    status: str,
    direction: str = "BUSINESS_INITIATED",
    picked_up: bool = True,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": call_id,
        "to": user if direction == "BUSINESS_INITIATED" else "13175551399",
        "to_user_id": "US.13491208655302741918",
        "to_parent_user_id": "US.ENT.11815799212886844830",
        "from": "13175551399" if direction == "BUSINESS_INITIATED" else user,
        "event": "terminate",
        "direction": direction,
        "biz_opaque_callback_data": "random_string",
        "timestamp": "1671644824",
        "status": status,
    }
    if picked_up:
        call.update(start_time="1671644824", end_time="1671644944", duration=120)
    contact = {
        "profile": {"name": "Pablo Morales", "username": "@pablo"},
        "wa_id": user,
        "user_id": "US.13491208655302741918",
        "parent_user_id": "US.ENT.11815799212886844830",
    }
    value: dict[str, Any] = {"calls": [call], "contacts": [contact]}
    if errors is not None:
        value["errors"] = errors
    return envelope(scene, "calls", value)


MEDIA_TIMEOUT = {
    "code": 138021,
    "message": "Media receive timeout",
    "href": "https://developers.facebook.com/documentation/business-messaging/whatsapp/calling/troubleshooting",
    "error_data": {"details": "No media received from the business"},
}


def placed_call(scene: Scene, callback_data: str) -> tuple[str, str]:
    """A call the gateway placed to a user who lets it ring (the emulator's own connect and RINGING arrive)."""
    user = scene.user(no_answer=True)
    r = scene.post("/call/make", {"Phone": user, "CallbackData": callback_data})
    assert r.status_code == 200, r.text
    call_id: str = r.json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallState", Event="ringing")
    return call_id, user


def hang_up_at_the_emulator(scene: Scene, call_id: str) -> None:
    """The emulator still rings (Meta's samples ended the call at the gateway only)."""
    scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")


def kinds(scene: Scene, call_id: str) -> list[str]:
    return [e["type"] if e["type"] != "CallState" else f"CallState:{e['Event']}" for e in scene.events(call_id)]


# ---- the tests ------------------------------------------------------------------------------------------------


def test_a_users_call_from_metas_sample_rings_and_ends_when_the_user_hangs_up(scene: Scene) -> None:
    call_id, caller = "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh" + scene.phone_number_id, "16315553601"
    post_signed(scene, user_initiated_connect(scene, call_id, caller))
    offer = scene.wait_event(call_id, "CallOffer")
    assert (offer["Phone"], offer["Direction"], offer["State"]) == (caller, "incoming", "ringing")
    assert offer["From"] == f"{caller}@s.whatsapp.net"
    assert scene.call_status(call_id)["State"] == "ringing"

    terminate = call_terminate(scene, call_id, caller, "COMPLETED", direction="USER_INITIATED", picked_up=False)
    post_signed(scene, terminate)
    ended = scene.wait_event(call_id, "CallTerminate")
    reason = f"{caller} hung up before the call was accepted"
    assert ended["Reason"] == reason and ended["State"] == "ended"
    call = scene.wait_state(call_id, "ended")
    assert call["EndReason"] == reason and call["Duration"] == 0
    scene.wait_event(call_id, "CallState", Event="ended")
    assert kinds(scene, call_id) == ["CallOffer", "CallState:ringing", "CallTerminate", "CallState:ended"]


def test_a_placed_call_is_accepted_then_completed_as_metas_samples_say(scene: Scene) -> None:
    call_id, user = placed_call(scene, "crm-7")
    try:
        post_signed(scene, call_status(scene, call_id, user, "RINGING", "crm-7"))
        post_signed(scene, call_status(scene, call_id, user, "ACCEPTED", "crm-7"))
        accepted = scene.wait_event(call_id, "CallAccept")
        assert accepted["State"] == "active" and accepted["CallbackData"] == "crm-7"
        assert scene.call_status(call_id)["State"] == "active"

        post_signed(scene, call_terminate(scene, call_id, user, "COMPLETED"))
        ended = scene.wait_event(call_id, "CallTerminate")
        assert ended["Reason"] == f"hung up by {user}" and ended["Duration"] == 120  # Meta's duration
        call = scene.wait_state(call_id, "ended")
        assert (call["EndReason"], call["Duration"], call["CallbackData"]) == (f"hung up by {user}", 120, "crm-7")
        scene.wait_event(call_id, "CallState", Event="ended")
        assert kinds(scene, call_id) == [
            "CallState:ringing",
            "CallAccept",
            "CallState:active",
            "CallTerminate",
            "CallState:ended",
        ]
    finally:
        hang_up_at_the_emulator(scene, call_id)


def test_a_placed_call_the_user_rejects_ends_once(scene: Scene) -> None:
    """REJECTED status, then (the page: "You also receive the call terminate webhook") a terminate COMPLETED."""
    call_id, user = placed_call(scene, "crm-8")
    try:
        post_signed(scene, call_status(scene, call_id, user, "REJECTED", "crm-8"))
        ended = scene.wait_event(call_id, "CallTerminate")
        assert ended["Reason"] == f"rejected by {user}"
        post_signed(scene, call_terminate(scene, call_id, user, "COMPLETED", picked_up=False))
        call = scene.wait_state(call_id, "ended")
        assert call["EndReason"] == f"rejected by {user}" and call["Duration"] == 0
        scene.wait_event(call_id, "CallState", Event="ended")
        assert kinds(scene, call_id) == ["CallState:ringing", "CallTerminate", "CallState:ended"]
    finally:
        hang_up_at_the_emulator(scene, call_id)


def test_a_failed_call_carries_metas_error_to_the_end_reason(scene: Scene) -> None:
    call_id, user = placed_call(scene, "crm-9")
    try:
        post_signed(scene, call_status(scene, call_id, user, "ACCEPTED", "crm-9"))
        scene.wait_event(call_id, "CallAccept")
        post_signed(scene, call_terminate(scene, call_id, user, "FAILED", errors=[MEDIA_TIMEOUT]))
        reason = "WhatsApp reported the call failed: Media receive timeout (code 138021)"
        assert scene.wait_event(call_id, "CallTerminate")["Reason"] == reason
        call = scene.wait_state(call_id, "ended")
        assert call["EndReason"] == reason and call["Duration"] == 120
    finally:
        hang_up_at_the_emulator(scene, call_id)


def test_metas_permission_reply_sample_reaches_the_app(scene: Scene) -> None:
    user = scene.user()
    message: dict[str, Any] = {
        "context": {"from": "13175551399", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"},
        "from": user,
        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGCAyNzIzMDY1OTc5RjdFNEE1OEI2MUEyMjlDN0Q3NTVBMQA=",
        "timestamp": "1671644824",
        "type": "interactive",
        "interactive": {
            "type": "call_permission_reply",
            "call_permission_reply": {
                "response": "accept",
                "is_permanent": False,
                "expiration_timestamp": 1671648424,
                "response_source": "user_action",
            },
        },
    }
    contacts = [{"profile": {"name": "Pablo Morales"}, "wa_id": user}]
    post_signed(scene, envelope(scene, "messages", {"contacts": contacts, "messages": [message]}))
    event = scene.wait_event(None, "CallPermission", Phone=user)
    assert (event["Response"], event["IsPermanent"], event["ResponseSource"], event["ExpiresAt"]) == (
        "accept",
        False,
        "user_action",
        1671648424,
    )
    assert event["ContextID"] == message["context"]["id"]

    def last_reply() -> dict[str, Any] | None:
        r = scene.gateway.get("/call/permission", token=scene.token, params={"Phone": user})
        reply: dict[str, Any] | None = r.json()["data"].get("LastReply")
        return reply

    last = wait_until(last_reply, what="the reply on GET /call/permission")
    assert (last["Response"], last["IsPermanent"], last["ResponseSource"]) == ("accept", False, "user_action")
