"""CALLBRIDGE_MAX_CALLS on a lone gateway: a call beyond it is refused, placed (503) or incoming (rejected at
WhatsApp), and a call that ends makes room again."""

from __future__ import annotations

from pathlib import Path

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver, expect_ok, wait_until


def test_calls_beyond_max_calls_are_refused_until_one_ends(tmp_path: Path) -> None:
    with (
        Emulator(tmp_path / "emulator") as emulator,
        Gateway(tmp_path / "gateway", ice_hosts="127.0.0.1", max_calls=1) as gateway,
        WebhookReceiver() as receiver,
    ):
        scene = Scene(gateway, emulator, receiver).setup()
        first = scene.make_call(scene.user(answer_after_ms=0))
        scene.wait_event(first, "CallAccept")

        refused = scene.post("/call/make", {"Phone": scene.user(answer_after_ms=0)})
        assert refused.status_code == 503 and "CALLBRIDGE_MAX_CALLS" in refused.json()["error"]
        incoming = scene.user_calls(scene.user())
        wait_until(lambda: emulator.call(incoming)["state"] == "ended", timeout=10, what="the caller to be rejected")
        assert not scene.events(incoming)  # never offered to the app: the gateway had no room

        expect_ok(scene.post("/call/end", {"CallID": first}))
        scene.wait_event(first, "CallTerminate")
        second = scene.make_call(scene.user(answer_after_ms=0))
        scene.wait_event(second, "CallAccept")
        expect_ok(scene.post("/call/end", {"CallID": second}))
