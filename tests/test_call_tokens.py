"""Call-scoped browser tokens: one call's audio and events, nothing else; signed and short-lived."""

from __future__ import annotations

import time

import pytest

from callbridge.api import call_tokens
from callbridge.errors import Unauthorized
from tests.support.emulator import Scene


def active_call(scene: Scene) -> str:
    wa_id = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    return call_id


def mint(scene: Scene, call_id: str) -> str:
    r = scene.post("/call/webrtc/token", {"CallID": call_id})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["CallID"] == call_id and data["expiresAt"] > time.time() + 60
    return data["token"]


def test_a_call_token_opens_its_call_and_nothing_else(scene: Scene) -> None:
    call_id = active_call(scene)
    other_id = active_call(scene)
    token = mint(scene, call_id)
    gw = scene.gateway

    assert gw.get("/call/webrtc/config", token=token).status_code == 200
    assert gw.client.get("/call/webrtc/config", params={"token": token}).status_code == 200
    r = gw.post("/call/webrtc/close", token=token, json={"callID": call_id})
    assert r.status_code == 200 and r.json() == {"callID": call_id, "closed": False, "endpointID": "default"}
    with gw.client.stream("GET", "/call/events", params={"CallID": call_id, "token": token}) as stream:
        assert stream.status_code == 200
        first = next(stream.iter_lines())
        assert first == "event: call"

    # Another call, the session's call list, and every other route are closed to it.
    assert gw.post("/call/webrtc/close", token=token, json={"callID": other_id}).status_code == 401
    assert (
        gw.post("/call/webrtc/offer", token=token, json={"callID": other_id, "type": "offer", "sdp": "v=0"}).status_code
        == 401
    )
    assert gw.client.get("/call/events", params={"CallID": other_id, "token": token}).status_code == 401
    assert gw.client.get("/call/events", params={"token": token}).status_code == 401
    for method, path, body in [
        ("POST", "/call/make", {"Phone": "15550009999"}),
        ("GET", "/call/status", None),
        ("POST", "/call/end", {"CallID": call_id}),
        ("POST", "/call/play", {"CallID": call_id, "AudioFile": "x.wav"}),
        ("POST", "/call/record", {"CallID": call_id}),
        ("POST", "/call/webrtc/token", {"CallID": call_id}),
        ("GET", "/session/status", None),
        ("POST", "/session/logout", None),
        ("GET", "/webhook", None),
    ]:
        r = gw.client.request(method, path, headers={"token": token}, json=body)
        assert r.status_code == 401, (path, r.text)
    assert scene.call_status(call_id)["State"] == "active"


def test_tokens_are_refused_when_forged_tampered_or_for_ended_calls(scene: Scene) -> None:
    call_id = active_call(scene)
    token = mint(scene, call_id)
    gw = scene.gateway
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    forged, _ = call_tokens.mint("guessed-key", 1, call_id, 3600)
    for bad in (tampered, forged, "cbt.garbage", "cbt."):
        assert gw.get("/call/webrtc/config", token=bad).status_code == 401
    scene.post("/call/end", {"CallID": call_id})
    r = scene.post("/call/webrtc/token", {"CallID": call_id})
    assert r.status_code == 409
    assert scene.post("/call/webrtc/token", {"CallID": "wacid.none"}).status_code == 404
    assert scene.post("/call/webrtc/token", {}).status_code == 400


def test_expiry() -> None:
    token, expires = call_tokens.mint("key", 7, "wacid.x", ttl=60, now=1000)
    assert expires == 1060
    grant = call_tokens.verify("key", token, now=1059)
    assert (grant.session_id, grant.call_id) == (7, "wacid.x")
    with pytest.raises(Unauthorized, match="expired"):
        call_tokens.verify("key", token, now=1060)
    with pytest.raises(Unauthorized, match="invalid token"):
        call_tokens.verify("other-key", token, now=1000)


def test_the_session_event_stream_sees_calls_ring(scene: Scene) -> None:
    wa_id = scene.user()
    with scene.gateway.client.stream("GET", "/call/events", params={"token": scene.token}) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: calls"
        call_id = scene.user_calls(wa_id)
        seen = []
        for line in lines:
            seen.append(line)
            if line.startswith("data:") and call_id in line and "CallOffer" in "".join(seen[-2:]):
                break
    assert "event: CallOffer" in seen
    scene.post("/call/reject", {"CallID": call_id})
