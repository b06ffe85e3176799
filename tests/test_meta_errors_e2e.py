"""Meta's refusals, end to end: the emulator answers as Meta's "Troubleshoot WhatsApp Calling Errors" page says
(code and HTTP status), and the app gets a 4xx it can act on, with Meta's code in the message."""

from __future__ import annotations

from tests.support.emulator import Scene


def test_a_second_call_to_a_user_already_on_a_call_is_a_conflict(scene: Scene) -> None:
    alice = scene.user(answer_after_ms=0)
    first = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(first, "CallAccept")
    r = scene.post("/call/make", {"Phone": alice})
    assert r.status_code == 409 and "138003" in r.json()["error"], r.text
    assert scene.call_status(first)["State"] == "active"
    scene.post("/call/end", {"CallID": first})


def test_asking_for_permission_too_often_is_429(scene: Scene) -> None:
    dave = scene.user(grant_permission=False, permission="no_permission")
    assert scene.post("/call/permission", {"Phone": dave}).status_code == 200
    r = scene.post("/call/permission", {"Phone": dave})  # Meta allows one request a day per user
    assert r.status_code == 429 and "138009" in r.json()["error"], r.text


def test_asking_a_user_who_gave_permanent_permission_is_a_conflict(scene: Scene) -> None:
    erin = scene.user(permission="permanent")
    r = scene.post("/call/permission", {"Phone": erin})
    assert r.status_code == 409 and "138017" in r.json()["error"], r.text


def test_calling_from_a_number_whose_calling_is_off_is_a_conflict(scene: Scene) -> None:
    frank = scene.user()
    assert scene.post("/call/settings", {"Status": "DISABLED"}).status_code == 200
    try:
        r = scene.post("/call/make", {"Phone": frank})
        assert r.status_code == 409 and "138000" in r.json()["error"], r.text
        assert "POST /call/settings" in r.json()["error"]  # says how to turn it on
    finally:
        assert scene.post("/call/settings", {"Status": "ENABLED"}).status_code == 200
    assert scene.gateway.get("/call/status", token=scene.token).json()["data"]["calls"] == []


def test_a_call_without_permission_is_forbidden(scene: Scene) -> None:
    grace = scene.user(grant_permission=False, permission="no_permission")
    r = scene.post("/call/make", {"Phone": grace})
    assert r.status_code == 403 and "138006" in r.json()["error"] and "/call/permission" in r.json()["error"]
