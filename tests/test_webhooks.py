"""Webhook delivery from the persisted outbox to a real receiver: order, retries, restarts, signatures, dead events."""

from __future__ import annotations

import time
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


def test_a_url_that_now_resolves_to_a_refused_address_gets_nothing(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    # Accepted where private addresses were allowed; the gateway that delivers refuses them, so it must look at
    # what the name resolves to at delivery (as after a DNS change) and send nothing there.
    allowing = start_gateway()
    url = receiver.url.replace("127.0.0.1", "localhost")
    token = connected_session(allowing, graph, url, SECRET)
    allowing.stop()
    gw = start_gateway(webhook_allow_private=False, **FAST_RETRIES)
    enqueue(database_url, token, call_events("c1", 1))
    [event] = wait_until(lambda: [e for e in outbox(gw, "pending") if e["Attempts"] >= 2], what="refused attempts")
    assert event["LastError"].startswith("refused: localhost resolves to 127.0.0.1, a private or loopback address")
    assert receiver.deliveries == []


SLOW_ANSWER = 6.0  # seconds the slow app takes to answer each delivery


def test_a_slow_app_delays_only_itself(
    start_gateway, database_url: str, graph: GraphStandIn, receiver: Receiver
) -> None:
    gw = start_gateway(webhook_timeout=SLOW_ANSWER * 3)
    with Receiver(delay=SLOW_ANSWER) as slow:
        fast_token = connected_session(gw, graph, receiver.url, SECRET)
        slow_token = connected_session(gw, graph, slow.url, SECRET, name="slow", token="slow", phone_number_id="2")
        # Five calls for the slow app (one more than may be in flight to it), two for the fast one.
        slow_calls = ("s1", "s2", "s3", "s4", "s5")
        enqueue(database_url, slow_token, call_events("s1", 2) + [e for c in slow_calls[1:] for e in call_events(c, 1)])
        enqueue(database_url, fast_token, call_events("f1", 5) + call_events("f2", 5))
        wait_until(lambda: slow.holding, what="the slow app to get its first deliveries")
        held_at = time.monotonic()

        # Each fast call's five events go one after the other, all while the slow app holds its first requests.
        wait_until(lambda: len(receiver.accepted()) == 10 or slow.deliveries, timeout=2 * SLOW_ANSWER, what="either")
        fast_took = time.monotonic() - held_at
        assert len(receiver.accepted()) == 10 and slow.deliveries == [], (fast_took, len(receiver.accepted()))
        assert slow.holding == 4  # the bound per destination: the fifth call waits for a free slot

        # The slow app gets everything too, in order per call, never more than the bound at once.
        wait_until(accepted_count(slow, 6), timeout=4 * SLOW_ANSWER, what="the slow app's six events")
        assert slow.most_held == 4
        for app, calls in ((receiver, ("f1", "f2")), (slow, slow_calls)):
            for call in calls:
                got = [d.event["Seq"] for d in app.accepted() if d.event["CallID"] == call]
                assert got == list(range(1, len(got) + 1)) and got, (call, got)
