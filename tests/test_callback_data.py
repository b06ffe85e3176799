"""The app's own reference for a call (``CallbackData``, Meta's ``biz_opaque_callback_data``): sent to WhatsApp
when the call is placed or accepted, and shown on the call and its events (Meta echoes it on its webhooks)."""

from __future__ import annotations

from tests.support.emulator import Scene


def test_an_outgoing_calls_reference_goes_to_meta_and_comes_back_on_the_call(scene: Scene) -> None:
    alice = scene.user(answer_after_ms=200)
    r = scene.post("/call/make", {"Phone": alice, "CallbackData": "ticket-4711"})
    assert r.status_code == 200, r.text
    call = r.json()["data"]["call"]
    assert call["CallbackData"] == "ticket-4711"
    assert scene.wait_event(call["CallID"], "CallAccept")["CallbackData"] == "ticket-4711"
    scene.post("/call/end", {"CallID": call["CallID"]})
    assert scene.wait_event(call["CallID"], "CallTerminate")["CallbackData"] == "ticket-4711"
    assert scene.call_status(call["CallID"])["CallbackData"] == "ticket-4711"  # from the record, once ended


def test_an_incoming_calls_reference_is_set_when_it_is_accepted(scene: Scene) -> None:
    bob = scene.user()
    call_id = scene.user_calls(bob)
    scene.wait_event(call_id, "CallOffer")
    r = scene.post("/call/accept", {"CallID": call_id, "CallbackData": "crm-case-9"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["call"]["CallbackData"] == "crm-case-9"
    assert scene.wait_event(call_id, "CallAccept")["CallbackData"] == "crm-case-9"
    scene.post("/call/end", {"CallID": call_id})


def test_a_reference_over_512_characters_is_refused_and_no_call_is_placed(scene: Scene) -> None:
    alice = scene.user()
    r = scene.post("/call/make", {"Phone": alice, "CallbackData": "x" * 513})
    assert r.status_code == 400 and "CallbackData" in r.json()["error"]
    assert scene.gateway.get("/call/status", token=scene.token).json()["data"]["calls"] == []
