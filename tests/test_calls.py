"""Calls end to end: the gateway and the emulator as real processes, WebRTC between them on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import RING_TIMEOUT
from tests.support.emulator import Scene
from tests.support.net import wait_until


def make_call(scene: Scene, wa_id: str) -> dict:
    r = scene.post("/call/make", {"Phone": wa_id})
    assert r.status_code == 200, r.text
    return r.json()["data"]["call"]


def test_outgoing_call_from_ringing_to_terminate(scene: Scene) -> None:
    alice = scene.user(answer_after_ms=800, say="tone:440")
    call = make_call(scene, alice)
    call_id = call["CallID"]
    assert call["State"] == "ringing" and call["Direction"] == "outgoing" and call["Phone"] == alice
    scene.wait_event(call_id, "CallState", Event="ringing")

    scene.wait_event(call_id, "CallAccept", State="active")
    scene.wait_event(call_id, "CallState", Event="active")
    assert scene.call_status(call_id)["State"] == "active"

    # The user hears the gateway's leg: audio flows from the first moment, and it is silence.
    heard = wait_until(lambda: (c := scene.emulator.call(call_id))["heard"]["seconds"] > 2 and c, what="audio")["heard"]
    assert heard["rms_dbfs"] < -60
    assert scene.emulator.call(call_id)["state"] == "active"

    r = scene.post("/call/end", {"CallID": call_id})
    assert r.status_code == 200, r.text
    ended = r.json()["data"]["call"]
    assert ended["State"] == "ended" and ended["EndReason"] == "ended by the app"
    terminate = scene.wait_event(call_id, "CallTerminate")
    assert terminate["Reason"] == "ended by the app"
    wait_until(lambda: scene.emulator.call(call_id)["state"] == "ended", what="the emulator to see the end")

    cdr = scene.call_status(call_id)
    assert cdr["State"] == "ended" and cdr["Direction"] == "outgoing" and cdr["Phone"] == alice
    assert cdr["StartedAt"] <= cdr["AnsweredAt"] <= cdr["EndedAt"]
    answered, ended_at = (datetime.fromisoformat(cdr[k]) for k in ("AnsweredAt", "EndedAt"))
    assert cdr["Duration"] == pytest.approx((ended_at - answered).total_seconds(), abs=0.1)
    assert cdr["Duration"] > 0.5
    seqs = [e["Seq"] for e in scene.events(call_id)]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert [e["type"] for e in scene.events(call_id, "CallAccept")] == ["CallAccept"]


def test_incoming_call_accepted_then_the_user_hangs_up(scene: Scene) -> None:
    bob = scene.user(name="Bob", say="tone:440")
    call_id = scene.user_calls(bob)
    offer = scene.wait_event(call_id, "CallOffer")
    assert offer["Phone"] == bob and offer["Direction"] == "incoming" and offer["State"] == "ringing"
    assert offer["From"] == f"{bob}@s.whatsapp.net" and offer["Name"] == "Bob"

    r = scene.post("/call/accept", {"CallID": call_id})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["call"]["State"] == "active"
    scene.wait_event(call_id, "CallAccept")
    wait_until(lambda: scene.emulator.call(call_id)["heard"]["seconds"] > 1.5, what="media both ways")

    # pre_accept, then accept, with the same answer; only sha-256 fingerprints ever went out.
    actions = [
        r["action"]
        for r in scene.emulator.client.get("/emulator/requests").json()["requests"]
        if r.get("call_id") == call_id
    ]
    assert actions == ["pre_accept", "accept"]
    sdps = scene.emulator.client.get(f"/emulator/calls/{call_id}/sdp").json()["sdps"]
    assert [s["action"] for s in sdps] == ["pre_accept", "accept"]
    assert sdps[0]["sdp"] == sdps[1]["sdp"]
    fingerprints = [line for line in sdps[0]["sdp"].splitlines() if line.startswith("a=fingerprint:")]
    assert fingerprints and all(line.startswith("a=fingerprint:sha-256 ") for line in fingerprints)
    assert "a=setup:active" in sdps[0]["sdp"] and "a=ice-lite" not in sdps[0]["sdp"]

    assert scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup").status_code == 200
    terminate = scene.wait_event(call_id, "CallTerminate")
    assert terminate["Reason"] == f"hung up by {bob}"
    assert terminate["Duration"] >= 1
    assert scene.call_status(call_id)["State"] == "ended"


def test_incoming_call_rejected_by_the_app(scene: Scene) -> None:
    carol = scene.user()
    call_id = scene.user_calls(carol)
    scene.wait_event(call_id, "CallOffer")
    r = scene.post("/call/reject", {"CallID": call_id})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["call"]["EndReason"] == "rejected by the app"
    assert scene.wait_event(call_id, "CallTerminate")["Reason"] == "rejected by the app"
    wait_until(lambda: scene.emulator.call(call_id)["state"] == "ended", what="the emulator to see the rejection")
    assert scene.emulator.call(call_id)["end_reason"] == "rejected by the business"


def test_incoming_call_past_the_ring_timeout_is_rejected_with_a_reason(scene: Scene) -> None:
    dave = scene.user()
    call_id = scene.user_calls(dave)
    scene.wait_event(call_id, "CallOffer")
    terminate = scene.wait_event(call_id, "CallTerminate", timeout=RING_TIMEOUT + 10)
    assert "ring timeout" in terminate["Reason"] and "rejected" in terminate["Reason"]
    wait_until(lambda: scene.emulator.call(call_id)["state"] == "ended", what="the rejection to reach WhatsApp")
    r = scene.post("/call/accept", {"CallID": call_id})
    assert r.status_code == 409 and "already ended" in r.json()["error"]


def test_incoming_call_the_user_abandons_while_ringing(scene: Scene) -> None:
    erin = scene.user()
    call_id = scene.user_calls(erin)
    scene.wait_event(call_id, "CallOffer")
    scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")
    terminate = scene.wait_event(call_id, "CallTerminate")
    assert terminate["Reason"] == f"{erin} hung up before the call was accepted"
    assert terminate["Duration"] == 0


def test_outgoing_call_rejected_by_the_user(scene: Scene) -> None:
    frank = scene.user(reject=True, answer_after_ms=300)
    call_id = make_call(scene, frank)["CallID"]
    terminate = scene.wait_event(call_id, "CallTerminate")
    assert terminate["Reason"] == f"rejected by {frank}"
    assert scene.events(call_id, "CallAccept") == []


def test_outgoing_call_needs_permission_which_can_be_requested(scene: Scene) -> None:
    grace = scene.user(permission="no_permission", grant_permission=True)
    r = scene.post("/call/make", {"Phone": grace})
    assert r.status_code == 403
    assert "no call permission" in r.json()["error"] and "POST /call/permission" in r.json()["error"]
    r = scene.gateway.get("/call/permission", token=scene.token, params={"Phone": grace})
    assert r.json()["data"]["permission"]["status"] == "no_permission"

    r = scene.post("/call/permission", {"Phone": grace, "Body": "Can we call you about your order?"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["MessageID"].startswith("wamid.")
    reply = scene.wait_event(None, "CallPermission", Phone=grace)
    assert reply["Response"] == "accept" and reply["ExpiresAt"]
    r = scene.gateway.get("/call/permission", token=scene.token, params={"phone": grace})
    assert r.json()["data"]["permission"]["status"] == "temporary"

    call_id = make_call(scene, grace)["CallID"]
    scene.wait_event(call_id, "CallAccept")


def test_a_declined_permission_request_is_reported(scene: Scene) -> None:
    heidi = scene.user(grant_permission=False)
    assert scene.post("/call/make", {"Phone": heidi}).status_code == 403
    assert scene.post("/call/permission", {"Phone": heidi}).status_code == 200
    assert scene.wait_event(None, "CallPermission", Phone=heidi)["Response"] == "reject"
    assert scene.post("/call/make", {"Phone": heidi}).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/call/make", {}, 400, "missing Phone in payload"),
        ("/call/make", {"Phone": "not-a-number"}, 400, "is not a phone number"),
        ("/call/make", {"Phone": 15551234567}, 400, "invalid Phone"),
        ("/call/accept", {}, 400, "missing CallID in payload"),
        ("/call/accept", {"CallID": "wacid.nope"}, 404, "unknown call"),
        ("/call/reject", {"CallID": "wacid.nope"}, 404, "unknown call"),
        ("/call/end", {"CallID": "wacid.nope"}, 404, "unknown call"),
        ("/call/permission", {}, 400, "missing Phone in payload"),
    ],
)
def test_bad_call_requests(scene: Scene, path: str, body: dict, status: int, message: str) -> None:
    r = scene.post(path, body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert scene.gateway.get("/call/status", token=scene.token).json()["data"]["calls"] == []


def test_wrong_state_requests_get_409_and_change_nothing(scene: Scene) -> None:
    ivan = scene.user(answer_after_ms=200)
    call_id = make_call(scene, ivan)["CallID"]
    r = scene.post("/call/accept", {"CallID": call_id})
    assert r.status_code == 409 and "outgoing" in r.json()["error"]
    scene.wait_event(call_id, "CallAccept")
    assert scene.post("/call/reject", {"CallID": call_id}).status_code == 409
    assert scene.call_status(call_id)["State"] == "active"
    assert scene.post("/call/end", {"CallID": call_id}).status_code == 200
    r = scene.post("/call/end", {"CallID": call_id})
    assert r.status_code == 409 and "already ended" in r.json()["error"]


def test_calls_of_another_session_are_invisible(scene: Scene, call_gateway, emulator, receiver) -> None:
    judy = scene.user(answer_after_ms=200)
    call_id = make_call(scene, judy)["CallID"]
    other = Scene(call_gateway, emulator, receiver).setup()
    for path in ("/call/accept", "/call/reject", "/call/end"):
        assert other.post(path, {"CallID": call_id}).status_code == 404
    assert other.gateway.get("/call/status", token=other.token, params={"CallID": call_id}).status_code == 404
    assert other.gateway.get("/call/status", token=other.token).json()["data"]["calls"] == []
    scene.post("/call/end", {"CallID": call_id})


def test_a_disconnected_session_cannot_call(scene: Scene) -> None:
    kim = scene.user()
    scene.gateway.post("/session/disconnect", token=scene.token)
    r = scene.post("/call/make", {"Phone": kim})
    assert r.status_code == 409 and "not connected" in r.json()["error"]


def test_status_lists_live_calls_and_history(scene: Scene) -> None:
    leo = scene.user(answer_after_ms=200)
    first = make_call(scene, leo)["CallID"]
    scene.wait_event(first, "CallAccept")
    live = scene.gateway.get("/call/status", token=scene.token).json()["data"]["calls"]
    assert [c["CallID"] for c in live] == [first]
    scene.post("/call/end", {"CallID": first})
    assert scene.gateway.get("/call/status", token=scene.token).json()["data"]["calls"] == []
    history = scene.gateway.get("/call/status", token=scene.token, params={"History": 5}).json()["data"]["calls"]
    assert [c["CallID"] for c in history] == [first]
    assert scene.gateway.get("/call/status", token=scene.token, params={"History": "x"}).status_code == 400
