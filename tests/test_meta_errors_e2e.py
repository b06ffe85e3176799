"""Meta's refusals, end to end: the emulator answers as Meta's "Troubleshoot WhatsApp Calling Errors" page says
(code and HTTP status), and the app gets a 4xx it can act on, with Meta's code in the message."""

from __future__ import annotations

from callbridge.testing.provisioning import BusinessNumber, connect_session, init_session
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


def test_calling_from_a_number_on_sip_is_a_conflict(scene: Scene) -> None:
    """Meta's troubleshooting page: 131055 "Method not allowed" (HTTP 400) for Graph calling on a number whose calls
    go over SIP; the app gets a 409 saying so. (138012, 100 connected business calls to one user a day, is checked
    at the emulator and in tests/test_graph_errors.py: reaching it end to end takes 100 calls.)"""
    number = BusinessNumber("3000131055001", access_token="sip-access", app_secret="sip-secret")
    sip = {"status": "ENABLED", "servers": [{"hostname": "sip.example.com", "port": 5061}]}
    body = {**number.on_emulator(f"{scene.gateway.url}/whatsapp/webhook"), "calling": {"sip": sip}}
    assert scene.emulator.client.post("/emulator/numbers", json=body).status_code == 200
    token = "sip-number-session"
    init_session(scene.gateway.client, scene.gateway.admin_token, token, token, number.cloud(scene.emulator.url))
    connect_session(scene.gateway.client, token)
    r = scene.gateway.post("/call/make", token=token, json={"Phone": scene.user()})
    assert r.status_code == 409 and "131055" in r.json()["error"] and "SIP" in r.json()["error"], r.text
    assert scene.gateway.get("/call/status", token=token).json()["data"]["calls"] == []
