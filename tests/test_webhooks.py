"""Webhook delivery from the persisted outbox to a real receiver: order, retries, restarts, signatures, dead events."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callbridge.events.wago import signature_matches
from tests.support.gateway import GatewayProcess
from tests.support.graph import GraphStandIn
from tests.support.net import wait_until
from tests.support.outbox import call_events, enqueue
from tests.support.receiver import Receiver
from tests.support.sessions import connected_session

pytestmark = pytest.mark.store

SECRET = "webhook-secret-for-tests-0123456789"
FAST_RETRIES = {"webhook_retry_base": 0.2, "webhook_retry_cap": 0.8}


def outbox(gw: GatewayProcess, status: str) -> list[dict]:
    r = gw.get("/admin/outbox", admin=True, params={"status": status})
    assert r.status_code == 200, r.text
    return r.json()["data"]["events"]


def accepted_count(receiver: Receiver, n: int) -> Callable[[], bool]:
    return lambda: len(receiver.accepted()) >= n


def test_events_are_delivered_in_order_per_call_even_through_failures(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(**FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.status = 500  # every call's head fails a few times first
    events = [e for batch in zip(*(call_events(c, 6) for c in ("A", "B", "C")), strict=True) for e in batch]
    ids = enqueue(database_url, token, events)
    wait_until(lambda: len(receiver.deliveries) >= 6, what="failing attempts")
    receiver.status = 200
    wait_until(accepted_count(receiver, 18), timeout=30, what="all 18 events")

    for call in ("A", "B", "C"):
        got = [d.event for d in receiver.accepted() if d.event["CallID"] == call]
        assert [e["State"] for e in got] == [f"step-{n}" for n in range(1, 7)]
        assert [e["Seq"] for e in got] == [1, 2, 3, 4, 5, 6]
    assert {d.event_id for d in receiver.accepted()} == set(ids)
    wait_until(lambda: outbox(gw, "pending") == [], what="the outbox to drain")


def test_payload_is_wago_form_data_and_the_signature_verifies(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway()
    token = connected_session(gw, graph, receiver.url, SECRET)
    [event_id] = enqueue(database_url, token, [("CallOffer", {"Phone": "15550001111"}, "wacid.1")])
    wait_until(accepted_count(receiver, 1), what="the event")
    [delivery] = receiver.deliveries
    assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert delivery.token == token
    assert delivery.type == "CallOffer"
    assert delivery.event["EventID"] == event_id == delivery.headers["X-Callbridge-Event-Id"]
    assert delivery.event["CallID"] == "wacid.1" and delivery.event["Phone"] == "15550001111"
    assert delivery.event["Seq"] == 1
    assert signature_matches(SECRET, delivery.body, delivery.headers["X-Callbridge-Signature"])
    assert not signature_matches(SECRET, delivery.body + b"x", delivery.headers["X-Callbridge-Signature"])
    assert not signature_matches("another-secret", delivery.body, delivery.headers["X-Callbridge-Signature"])


def test_a_500_is_retried_with_the_same_event_id(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(**FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.status = 500
    [event_id] = enqueue(database_url, token, [("CallState", {"State": "ringing"}, "c1")])
    wait_until(lambda: len(receiver.deliveries) >= 3, what="three failed attempts")
    receiver.status = 200
    wait_until(accepted_count(receiver, 1), what="the retry that succeeds")
    attempts = [int(d.headers["X-Callbridge-Attempt"]) for d in receiver.deliveries]
    assert attempts == list(range(1, len(attempts) + 1))
    assert {d.event_id for d in receiver.deliveries} == {event_id}  # a receiver dedups on this
    assert len(receiver.accepted()) == 1
    assert receiver.signatures_valid(SECRET)


def test_a_receiver_that_is_down_gets_the_event_when_it_returns(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(**FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.stop()
    enqueue(database_url, token, call_events("c1", 2))
    pending = wait_until(
        lambda: [e for e in outbox(gw, "pending") if e["Attempts"] >= 2], what="failed attempts while down"
    )
    assert "ConnectError" in pending[0]["LastError"]
    receiver.start()
    wait_until(accepted_count(receiver, 2), what="delivery after the receiver came back")
    assert [d.event["State"] for d in receiver.accepted()] == ["step-1", "step-2"]


def test_nothing_is_lost_when_the_gateway_is_killed_mid_retry(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(**FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.status = 500
    ids = enqueue(database_url, token, call_events("c1", 3))
    wait_until(lambda: len(receiver.deliveries) >= 2, what="retries before the crash")
    gw.kill()
    receiver.status = 200
    assert receiver.accepted() == []
    gw.start()
    wait_until(accepted_count(receiver, 3), timeout=20, what="delivery after the restart")
    assert [d.event_id for d in receiver.accepted()] == ids
    wait_until(lambda: len(outbox(gw, "delivered")) == 3, what="all three marked delivered")
    assert outbox(gw, "pending") == []


def test_an_event_is_dead_after_the_give_up_age_and_the_queue_moves_on(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(webhook_give_up_after=4, **FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.status = 503
    [first] = enqueue(database_url, token, call_events("c1", 1))
    dead = wait_until(lambda: outbox(gw, "dead"), timeout=15, what="the event to die")
    assert [e["EventID"] for e in dead] == [first]
    assert dead[0]["LastError"] == "HTTP 503" and dead[0]["Attempts"] >= 2

    # The call's queue is not stuck behind the dead event.
    receiver.status = 200
    [second] = enqueue(database_url, token, call_events("c1", 1))
    wait_until(lambda: any(d.event_id == second for d in receiver.accepted()), what="the next event in line")
    assert first not in {d.event_id for d in receiver.accepted()}

    # An operator can send a dead event again.
    r = gw.post("/admin/outbox/retry", admin=True, json={"EventID": first})
    assert r.status_code == 200, r.text
    wait_until(lambda: any(d.event_id == first for d in receiver.accepted()), what="the retried dead event")
    assert gw.post("/admin/outbox/retry", admin=True, json={"EventID": first}).status_code == 404
    assert gw.post("/admin/outbox/retry", admin=True, json={}).status_code == 400


def test_events_wait_for_a_webhook_subscription_and_connection(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway()
    token = connected_session(gw, graph)  # no webhook yet
    assert enqueue(database_url, token, call_events("c1", 1)) == [""]
    gw.post("/webhook", token=token, json={"WebhookURL": receiver.url})
    gw.post("/session/disconnect", token=token)
    assert enqueue(database_url, token, call_events("c1", 1)) == [""]
    gw.post("/session/connect", token=token, json={"Subscribe": ["Call"]})
    [queued] = enqueue(database_url, token, call_events("c1", 1))
    wait_until(lambda: [d.event_id for d in receiver.accepted()] == [queued], what="the one queued event")


def test_deleting_a_session_drops_its_undelivered_events(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(**FAST_RETRIES)
    token = connected_session(gw, graph, receiver.url, SECRET)
    receiver.status = 500
    enqueue(database_url, token, call_events("c1", 2))
    wait_until(lambda: receiver.deliveries, what="a first attempt")
    assert gw.post("/session/delete", admin=True, headers={"token": token}).status_code == 200
    assert outbox(gw, "pending") == []
