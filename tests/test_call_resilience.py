"""Calls over time and through failures: a long call, and a gateway that dies mid-call."""

from __future__ import annotations

import time

from tests.support.emulator import EmulatorProcess, Scene
from tests.support.net import wait_until
from tests.support.receiver import Receiver


def test_a_call_kept_up_45_seconds_is_not_dropped(scene: Scene) -> None:
    """Meta ends calls that get no valid Opus for ~20 s (the emulator enforces it): the leg must keep sending."""
    alice = scene.user(answer_after_ms=0, say="tone:440")
    call_id = scene.post("/call/make", {"Phone": alice}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    started = time.monotonic()
    while time.monotonic() - started < 45:
        time.sleep(5)
        assert scene.emulator.call(call_id)["state"] == "active", scene.emulator.call(call_id)["end_reason"]
        assert scene.call_status(call_id)["State"] == "active"
    heard = scene.emulator.call(call_id)["heard"]
    assert heard["seconds"] >= 44
    assert scene.post("/call/end", {"CallID": call_id}).status_code == 200


def test_a_gateway_killed_mid_call_records_the_end_after_restart(
    start_gateway,
    emulator: EmulatorProcess,
    receiver: Receiver,
) -> None:
    gateway = start_gateway(ice_hosts="127.0.0.1")
    scene = Scene(gateway, emulator, receiver).setup()
    bob = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": bob}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")

    gateway.kill()
    gateway.start()

    terminate = scene.wait_event(call_id, "CallTerminate")
    assert terminate["Reason"] == "the gateway restarted during the call"
    record = scene.call_status(call_id)
    assert record["State"] == "ended" and record["AnsweredAt"] and record["Phone"] == bob
    # The restarted gateway also tells WhatsApp, rather than leaving it to notice the silence.
    wait_until(lambda: scene.emulator.call(call_id)["state"] == "ended", what="WhatsApp to end the call")
    assert scene.emulator.call(call_id)["end_reason"] == "terminated by the business"


def test_media_that_vanishes_ends_the_call_with_a_reason(scene: Scene) -> None:
    """No webhook, no goodbye: only ICE consent checks going unanswered tell the gateway (RFC 7675, ~30 s)."""
    carol = scene.user(answer_after_ms=0)
    call_id = scene.post("/call/make", {"Phone": carol}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")
    wait_until(lambda: scene.emulator.call(call_id)["media"] == "connected", what="media")
    assert scene.emulator.client.post(f"/emulator/calls/{call_id}/vanish").status_code == 200
    terminate = scene.wait_event(call_id, "CallTerminate", timeout=60)
    assert terminate["Reason"].startswith("media connection to WhatsApp lost")
