"""The SDK joins a call as a listener (a supervisor's link): Debian's Chromium through TURN, as in test_browser.py,
with a listen call token. The call object lists the endpoint with its role, the listener hears the WhatsApp user
without a microphone, and leave() detaches it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chromium import REMOTE_PEAK_JS, chromium, microphone_wav
from tests.support.emulator import EmulatorProcess, Scene
from tests.support.net import wait_until
from tests.support.receiver import Receiver
from tests.support.turn import Coturn

pytestmark = pytest.mark.browser

SECRET = "coturn-secret-for-the-sdk-endpoints-test"

# In the page: the SDK, as an integration imports it, joined with the listen token. The page is /health (no
# softphone app): window.softphone.audio is where REMOTE_PEAK_JS looks for the remote stream.
JOIN_JS = """
async ({ callId, token }) => {
  const { CallbridgeCall } = await import("/sdk/callbridge.js");
  const audio = document.body.appendChild(document.createElement("audio")); // Chromium plays remote audio
  audio.autoplay = true; // to WebAudio only while a media element plays it too
  const call = new CallbridgeCall({
    callId, token, endpointId: "supervisor", role: "listen", audio, iceTransportPolicy: "relay",
  });
  window.softphone = { audio: call };
  await call.join();
  return { micAsked: call.localStream !== null };
}
"""


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn-sdk-endpoints"), SECRET).start()
    yield server
    server.stop()


def endpoints(scene: Scene, call_id: str) -> list[dict]:
    return scene.call_status(call_id)["Endpoints"]


def test_sdk_joins_as_a_listener_with_a_listen_token(
    start_gateway,
    emulator: EmulatorProcess,
    receiver: Receiver,
    turn: Coturn,
    tmp_path: Path,
) -> None:
    gateway = start_gateway(ice_hosts="127.0.0.1", ice_servers=json.dumps([{"urls": turn.urls}]), turn_secret=SECRET)
    scene = Scene(gateway, emulator, receiver).setup()
    wa_id = scene.user(answer_after_ms=0, say="tone:440", name="Alice")
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")

    grant = scene.post("/call/webrtc/token", {"CallID": call_id, "Role": "listen"}).json()["data"]
    assert grant["Role"] == "listen" and grant["CallID"] == call_id
    # A listen token attaches listeners only (it cannot take the agent's place).
    refused = gateway.post(
        "/call/webrtc/offer", token=grant["token"], json={"callID": call_id, "type": "offer", "sdp": "v=0"}
    )
    assert refused.status_code == 403, refused.text

    with chromium(microphone_wav(tmp_path / "mic660.wav", 660)) as browser:
        page = browser.new_page()
        page.goto(f"{gateway.url}/health")
        joined = page.evaluate(JOIN_JS, {"callId": call_id, "token": grant["token"]})
        assert joined == {"micAsked": False}  # a listener sends nothing, so asks for no microphone

        wait_until(
            lambda: any(e["State"] == "connected" for e in endpoints(scene, call_id)),
            timeout=15,
            what="the listener's endpoint to connect",
        )
        [endpoint] = endpoints(scene, call_id)
        assert endpoint["EndpointID"] == "supervisor" and endpoint["Role"] == "listen", endpoint
        assert endpoint["Kind"] == "webrtc"
        attached = scene.wait_event(call_id, "EndpointAttached")
        assert attached["Endpoint"]["EndpointID"] == "supervisor" and attached["Endpoint"]["Role"] == "listen"

        # The listener hears the WhatsApp user's 440 Hz (5.9 Hz bins at 48 kHz / 8192).
        wait_until(
            lambda: abs(page.evaluate(REMOTE_PEAK_JS)["hz"] - 440) <= 6, timeout=10, what="the listener to hear 440 Hz"
        )

        page.evaluate("() => window.softphone.audio.leave()")
        detached = scene.wait_event(call_id, "EndpointDetached", Reason="closed by the app")
        assert detached["Endpoint"]["EndpointID"] == "supervisor" and detached["Endpoint"]["Role"] == "listen"
        assert endpoints(scene, call_id) == []
        assert scene.call_status(call_id)["State"] == "active"  # the call goes on without its listener
