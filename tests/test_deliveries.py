"""The connector's handling of WhatsApp's deliveries: each event once, and events held until their call is known."""

from __future__ import annotations

from callbridge.connectors.deliveries import Deliveries
from callbridge.connectors.events import (
    CallAnswered,
    CallProgress,
    CallTerminated,
    CallUpdate,
    IncomingCall,
    PermissionReply,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_event_is_handed_on_once() -> None:
    deliveries = Deliveries()
    offer = IncomingCall("c1", "1555", "v=0")
    assert deliveries.admit(offer) == [offer]
    assert deliveries.admit(offer) == []
    assert deliveries.admit(IncomingCall("c1", "1555", "v=0 (a second copy, same call)")) == []
    ringing, accepted = CallProgress("c1", "RINGING"), CallProgress("c1", "ACCEPTED")
    assert deliveries.admit(ringing) == [ringing]
    assert deliveries.admit(accepted) == [accepted]
    assert deliveries.admit(CallProgress("c1", "RINGING")) == []
    end = CallTerminated("c1", "COMPLETED", 3.0)
    assert deliveries.admit(end) == [end]
    assert deliveries.admit(CallTerminated("c1", "COMPLETED", 3.0)) == []


def test_permission_replies_are_handed_on_once_each() -> None:
    deliveries = Deliveries()
    accept = PermissionReply("1555", "accept", 1_900_000_000)
    assert deliveries.admit(accept) == [accept]
    assert deliveries.admit(accept) == []
    later = PermissionReply("1555", "reject")
    assert deliveries.admit(later) == [later]


def test_events_for_an_unknown_call_wait_for_its_offer() -> None:
    deliveries = Deliveries()
    end = CallTerminated("c2", "COMPLETED")
    assert deliveries.admit(end) == [] and deliveries.held == 1
    offer = IncomingCall("c2", "1555", "v=0")
    assert deliveries.admit(offer) == [offer, end]
    assert deliveries.held == 0


def test_events_for_a_call_being_placed_wait_for_its_id() -> None:
    deliveries = Deliveries()
    events: list[CallUpdate] = [
        CallProgress("c3", "RINGING"),
        CallAnswered("c3", "v=0"),
        CallProgress("c3", "ACCEPTED"),
    ]
    for event in events:
        assert deliveries.admit(event) == []
    assert deliveries.announce("c3") == events
    later = CallTerminated("c3", "COMPLETED")
    assert deliveries.admit(later) == [later]


def test_held_events_are_dropped_once_holding_them_is_pointless() -> None:
    clock = Clock()
    deliveries = Deliveries(hold_for=60, clock=clock)
    deliveries.admit(CallTerminated("stale", "COMPLETED"))
    clock.now += 61
    deliveries.admit(CallTerminated("fresh", "COMPLETED"))
    assert deliveries.held == 1
    assert deliveries.announce("stale") == []


def test_memory_is_bounded() -> None:
    deliveries = Deliveries(remember=3)
    for n in range(10):
        deliveries.admit(IncomingCall(f"c{n}", "1555", "v=0"))
    # The oldest are forgotten: a repeat that old comes through again (the call layer ignores it by its record).
    assert deliveries.admit(IncomingCall("c0", "1555", "v=0")) != []
    assert deliveries.admit(IncomingCall("c9", "1555", "v=0")) == []
