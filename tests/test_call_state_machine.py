"""The call state machine on its own: a fake connector, a real SQLite record, no gateway process, no WebRTC.

Every transition, the app's commands in the wrong state, and WhatsApp's news repeated, late or out of order.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from callbridge.calls import service
from callbridge.calls.feed import CallFeed
from callbridge.calls.model import Call, Direction, State
from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.connectors.events import (
    CallAnswered,
    CallError,
    CallNews,
    CallProgress,
    CallTerminated,
    ConnectorEvent,
    IncomingCall,
)
from callbridge.errors import Conflict, NotFound
from callbridge.events.outbox import Outbox
from callbridge.media.whatsapp_leg import MEDIA_FAILED, MEDIA_LOST
from callbridge.store import Database, SecretBox
from callbridge.store.models import Base, CallRow, OutboxRow, SessionRow
from tests.support.fake_connector import LOOPBACK, FakeConnector

USER = "15550001111"
OFFER = "v=0 (the user's offer)"


@dataclass
class Machine:
    calls: CallService
    connector: FakeConnector
    session: SessionRow
    db: Database
    feed: CallFeed

    async def deliver(self, *events: ConnectorEvent) -> None:
        """A webhook delivery, through the connector's dedup and reordering, as the intake route does it."""
        for event in self.connector.receive(list(events)):
            await self.calls.handle(self.session, _news(event))

    async def events(self, call_id: str) -> list[str]:
        """The app's webhook events for a call, as staged in the outbox: ``CallState:ringing``, ``CallAccept``..."""
        async with self.db.session() as s:
            rows = await s.scalars(select(OutboxRow).where(OutboxRow.order_key == call_id).order_by(OutboxRow.seq))
            return [f"{r.type}:{r.payload['Event']}" if r.type == "CallState" else r.type for r in rows]

    async def record(self, call_id: str) -> CallRow:
        async with self.db.session() as s:
            row = await s.get(CallRow, call_id)
        assert row is not None
        return row


def _news(event: ConnectorEvent) -> CallNews:
    assert isinstance(event, IncomingCall | CallAnswered | CallProgress | CallTerminated), event
    return event


@pytest.fixture(scope="module")
def empty_record(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SecretBox]:
    """The schema, made once: each test starts from a copy of this file (creating it costs more than a test)."""
    path, box = tmp_path_factory.mktemp("record") / "calls.db", SecretBox.generate()

    async def create() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}", box)
        async with db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await db.close()

    asyncio.run(create())
    return path, box


@pytest.fixture
async def machine(tmp_path: Path, empty_record: tuple[Path, SecretBox]) -> AsyncIterator[Machine]:
    template, box = empty_record
    shutil.copyfile(template, tmp_path / "calls.db")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}", box)
    session = SessionRow(
        name="shop", token="t", token_digest="d", connected=True, subscribe=["All"], webhook_url="http://127.0.0.1:9/"
    )
    async with db.session() as s:
        s.add(session)
        await s.commit()
    connector = FakeConnector()
    feed = CallFeed()
    calls = CallService(CallRecords(db, Outbox()), feed, lambda _: connector, ring_timeout=30, ice=LOOPBACK)
    yield Machine(calls, connector, session, db, feed)
    await calls.shutdown()
    await db.close()


async def incoming(m: Machine, call_id: str = "wacid.in-1") -> Call:
    await m.deliver(IncomingCall(call_id, USER, OFFER, name="Alice"))
    return m.calls.live[call_id]


async def active_outgoing(m: Machine) -> Call:
    call = await m.calls.make(m.session, USER)
    await m.deliver(CallAnswered(call.id, "v=0 (answer)"), CallProgress(call.id, "ACCEPTED"))
    assert call.state is State.ACTIVE
    return call


# ---- outgoing calls ----------------------------------------------------------------------------------------


async def test_an_outgoing_call_rings_is_answered_and_hung_up(machine: Machine) -> None:
    call = await machine.calls.make(machine.session, "+1 555 000 1111")
    assert (call.state, call.direction, call.phone) == (State.RINGING, Direction.OUTGOING, USER)
    assert machine.connector.actions == [("connect", call.id)]
    await machine.deliver(CallProgress(call.id, "RINGING"), CallAnswered(call.id, "v=0 (answer)"))
    assert call.state is State.RINGING and machine.connector.legs[0].answers == ["v=0 (answer)"]
    await machine.deliver(CallProgress(call.id, "ACCEPTED"))
    assert call.state is State.ACTIVE and call.answered_at is not None
    await machine.deliver(CallTerminated(call.id, "COMPLETED", duration=42))
    assert (call.state, call.end_reason, call.duration) == (State.ENDED, f"hung up by {USER}", 42.0)
    assert machine.connector.legs[0].closed and call.id not in machine.calls.live
    assert await machine.events(call.id) == [
        "CallState:ringing",
        "CallAccept",
        "CallState:active",
        "CallTerminate",
        "CallState:ended",
    ]
    row = await machine.record(call.id)
    assert (row.state, row.end_reason, row.duration) == ("ended", f"hung up by {USER}", 42.0)


@pytest.mark.parametrize(
    ("news", "reason"),
    [
        (CallProgress("?", "REJECTED"), f"rejected by {USER}"),
        (CallTerminated("?", "REJECTED"), f"rejected by {USER}"),
        (CallTerminated("?", "COMPLETED"), f"not answered by {USER}"),
        (
            CallTerminated("?", "FAILED", errors=(CallError(131049, "user unreachable"), CallError(7, None))),
            "WhatsApp reported the call failed: user unreachable (code 131049); code 7",
        ),
        (CallTerminated("?", "FAILED"), "WhatsApp reported the call failed: WhatsApp gave no details"),
    ],
)
async def test_an_outgoing_call_that_never_connects_ends_with_the_reason(
    machine: Machine, news: CallProgress | CallTerminated, reason: str
) -> None:
    call = await machine.calls.make(machine.session, USER)
    await machine.deliver(type(news)(**{**news.__dict__, "call_id": call.id}))
    assert (call.state, call.end_reason, call.duration) == (State.ENDED, reason, 0.0)
    assert await machine.events(call.id) == ["CallState:ringing", "CallTerminate", "CallState:ended"]


async def test_an_unusable_sdp_answer_ends_the_call_and_tells_whatsapp(machine: Machine) -> None:
    machine.connector.answer_fails = True
    call = await machine.calls.make(machine.session, USER)
    await machine.deliver(CallAnswered(call.id, "garbage"))
    assert call.state is State.ENDED and "SDP answer was unusable" in (call.end_reason or "")
    assert machine.connector.actions[-1] == ("terminate", call.id)


async def test_the_app_ends_an_active_call(machine: Machine) -> None:
    call = await active_outgoing(machine)
    ended = await machine.calls.end(machine.session, call.id)
    assert ended.end_reason == "ended by the app" and machine.connector.actions[-1] == ("terminate", call.id)
    with pytest.raises(Conflict, match="already ended"):
        await machine.calls.end(machine.session, call.id)


async def test_the_app_cancels_an_outgoing_call_while_it_rings(machine: Machine) -> None:
    call = await machine.calls.make(machine.session, USER)
    await machine.calls.end(machine.session, call.id)
    assert (call.state, call.end_reason, call.duration) == (State.ENDED, "ended by the app", 0.0)
    assert machine.connector.actions == [("connect", call.id), ("terminate", call.id)]
    assert await machine.events(call.id) == ["CallState:ringing", "CallTerminate", "CallState:ended"]


async def test_a_call_ends_on_our_side_even_when_whatsapp_refuses_to_terminate(machine: Machine) -> None:
    call = await active_outgoing(machine)
    machine.connector.failing.add("terminate")
    await machine.calls.end(machine.session, call.id)
    assert call.state is State.ENDED
    assert call.end_reason == "ended by the app (WhatsApp did not confirm: WhatsApp refused to terminate)"


async def test_a_disconnected_session_places_no_call(machine: Machine) -> None:
    machine.session.connected = False
    with pytest.raises(Conflict, match="not connected"):
        await machine.calls.make(machine.session, USER)
    assert machine.connector.actions == []


# ---- incoming calls ----------------------------------------------------------------------------------------


async def test_an_incoming_call_is_offered_accepted_and_ended_by_the_app(machine: Machine) -> None:
    call = await incoming(machine)
    assert (call.state, call.direction, call.contact_name) == (State.RINGING, Direction.INCOMING, "Alice")
    await machine.calls.accept(machine.session, call.id)
    assert call.state is State.ACTIVE and call.media is not None
    await machine.calls.end(machine.session, call.id)
    assert machine.connector.actions == [("accept", call.id), ("terminate", call.id)]
    assert await machine.events(call.id) == [
        "CallOffer",
        "CallState:ringing",
        "CallAccept",
        "CallState:active",
        "CallTerminate",
        "CallState:ended",
    ]


async def test_an_incoming_call_rejected_by_the_app(machine: Machine) -> None:
    call = await incoming(machine)
    await machine.calls.reject(machine.session, call.id)
    assert (call.state, call.end_reason) == (State.ENDED, "rejected by the app")
    assert machine.connector.actions == [("reject", call.id)]


async def test_ending_a_ringing_incoming_call_rejects_it(machine: Machine) -> None:
    call = await incoming(machine)
    await machine.calls.end(machine.session, call.id)
    assert call.end_reason == "rejected by the app" and machine.connector.actions == [("reject", call.id)]


async def test_the_caller_hangs_up_before_and_after_the_answer(machine: Machine) -> None:
    early = await incoming(machine, "wacid.early")
    await machine.deliver(CallTerminated(early.id, "COMPLETED"))
    assert early.end_reason == f"{USER} hung up before the call was accepted"
    call = await incoming(machine, "wacid.late")
    await machine.calls.accept(machine.session, call.id)
    await machine.deliver(CallTerminated(call.id, "COMPLETED", duration=3))
    assert (call.end_reason, call.duration) == (f"hung up by {USER}", 3.0)


async def test_a_disconnected_session_rejects_incoming_calls(machine: Machine) -> None:
    machine.session.connected = False
    await machine.deliver(IncomingCall("wacid.nobody", USER, OFFER))
    assert machine.calls.live == {} and machine.connector.actions == [("reject", "wacid.nobody")]


# ---- commands in the wrong state ---------------------------------------------------------------------------


async def test_commands_in_the_wrong_state_are_refused_and_change_nothing(machine: Machine) -> None:
    outgoing = await machine.calls.make(machine.session, USER)
    with pytest.raises(Conflict, match="this one is outgoing"):
        await machine.calls.accept(machine.session, outgoing.id)
    with pytest.raises(Conflict, match="only ringing incoming calls"):
        await machine.calls.reject(machine.session, outgoing.id)
    with pytest.raises(Conflict, match="available once it is active"):
        await machine.calls.active_media(machine.session, outgoing.id)
    call = await incoming(machine)
    await machine.calls.accept(machine.session, call.id)
    with pytest.raises(Conflict, match="not ringing"):
        await machine.calls.accept(machine.session, call.id)
    with pytest.raises(Conflict, match="only ringing incoming calls"):
        await machine.calls.reject(machine.session, call.id)
    await machine.calls.end(machine.session, call.id)
    for command in (machine.calls.accept, machine.calls.reject, machine.calls.end):
        with pytest.raises(Conflict, match="already ended"):
            await command(machine.session, call.id)
    with pytest.raises(NotFound):
        await machine.calls.end(machine.session, "wacid.unknown")
    assert outgoing.state is State.RINGING


async def test_another_sessions_call_is_not_found(machine: Machine) -> None:
    call = await incoming(machine)
    stranger = SessionRow(id=machine.session.id + 1, name="other", connected=True)
    with pytest.raises(NotFound):
        await machine.calls.accept(stranger, call.id)
    with pytest.raises(NotFound):
        await machine.calls.get(stranger, call.id)


# ---- WhatsApp's news repeated, late, or out of order -------------------------------------------------------


async def test_repeated_deliveries_change_nothing(machine: Machine) -> None:
    offer = IncomingCall("wacid.twice", USER, OFFER)
    await machine.deliver(offer, offer)
    await machine.deliver(offer)
    call = machine.calls.live["wacid.twice"]
    await machine.calls.accept(machine.session, call.id)
    await machine.deliver(CallTerminated(call.id, "COMPLETED", 5), CallTerminated(call.id, "COMPLETED", 5))
    assert await machine.events(call.id) == [
        "CallOffer",
        "CallState:ringing",
        "CallAccept",
        "CallState:active",
        "CallTerminate",
        "CallState:ended",
    ]


async def test_the_state_machine_itself_ignores_repeats_that_get_past_the_connector(machine: Machine) -> None:
    call = await machine.calls.make(machine.session, USER)
    repeats: list[CallNews] = [
        CallAnswered(call.id, "v=0 a"),
        CallAnswered(call.id, "v=0 b"),
        CallProgress(call.id, "ACCEPTED"),
    ]
    for news in repeats * 2:
        await machine.calls.handle(machine.session, news)
    assert machine.connector.legs[0].answers == ["v=0 a"]
    offer = IncomingCall("wacid.direct", USER, OFFER)
    await machine.calls.handle(machine.session, offer)
    await machine.calls.reject(machine.session, offer.call_id)
    await machine.calls.handle(machine.session, offer)  # its record says it happened: not a new call
    assert "wacid.direct" not in machine.calls.live
    assert await machine.events(call.id) == ["CallState:ringing", "CallAccept", "CallState:active"]


async def test_news_of_an_ended_call_is_ignored(machine: Machine) -> None:
    call = await active_outgoing(machine)
    await machine.calls.end(machine.session, call.id)
    await machine.deliver(CallProgress(call.id, "REJECTED"), CallTerminated(call.id, "FAILED"))
    assert call.end_reason == "ended by the app"
    assert (await machine.events(call.id))[-2:] == ["CallTerminate", "CallState:ended"]


async def test_a_hang_up_that_overtakes_the_offer_ends_the_call_once_the_offer_comes(machine: Machine) -> None:
    await machine.deliver(CallTerminated("wacid.overtaken", "COMPLETED"))
    assert machine.calls.live == {} and machine.connector.deliveries.held == 1
    await machine.deliver(IncomingCall("wacid.overtaken", USER, OFFER))
    call = await machine.calls.get(machine.session, "wacid.overtaken")
    assert call.end_reason == f"{USER} hung up before the call was accepted"
    assert await machine.events(call.id) == ["CallOffer", "CallState:ringing", "CallTerminate", "CallState:ended"]


async def test_news_that_overtakes_the_graph_apis_answer_is_applied_in_order(machine: Machine) -> None:
    machine.connector.next_call_id = "wacid.fast"
    await machine.deliver(
        CallProgress("wacid.fast", "RINGING"),
        CallAnswered("wacid.fast", "v=0 (answer)"),
        CallProgress("wacid.fast", "ACCEPTED"),
    )
    call = await machine.calls.make(machine.session, USER)
    assert call.id == "wacid.fast" and call.state is State.ACTIVE
    assert machine.connector.legs[0].answers == ["v=0 (answer)"]
    assert await machine.events(call.id) == ["CallState:ringing", "CallAccept", "CallState:active"]


async def test_acceptance_that_overtakes_the_sdp_answer_activates_then_the_answer_is_applied(machine: Machine) -> None:
    call = await machine.calls.make(machine.session, USER)
    await machine.deliver(CallProgress(call.id, "ACCEPTED"))
    assert call.state is State.ACTIVE and machine.connector.legs[0].answers == []
    await machine.deliver(CallAnswered(call.id, "v=0 (answer)"))
    assert call.state is State.ACTIVE and machine.connector.legs[0].answers == ["v=0 (answer)"]
    assert await machine.events(call.id) == ["CallState:ringing", "CallAccept", "CallState:active"]


async def test_news_only_outgoing_calls_get_does_not_move_an_incoming_call(machine: Machine) -> None:
    call = await incoming(machine)
    await machine.deliver(CallAnswered(call.id, "v=0 (stray answer)"), CallProgress(call.id, "ACCEPTED"))
    assert (call.state, call.leg, call.media) == (State.RINGING, None, None)
    await machine.calls.accept(machine.session, call.id)  # still the app's to accept
    assert call.state is State.ACTIVE and call.media is not None
    assert await machine.events(call.id) == ["CallOffer", "CallState:ringing", "CallAccept", "CallState:active"]


async def test_the_reverse_order_of_a_whole_outgoing_call_still_ends_it(machine: Machine) -> None:
    machine.connector.next_call_id = "wacid.reversed"
    await machine.deliver(
        CallTerminated("wacid.reversed", "COMPLETED", 7),
        CallProgress("wacid.reversed", "ACCEPTED"),
        CallAnswered("wacid.reversed", "v=0 (answer)"),
    )
    call = await machine.calls.make(machine.session, USER)
    assert call.state is State.ENDED and call.end_reason == f"not answered by {USER}"


# ---- timers, media loss, restarts --------------------------------------------------------------------------


@pytest.mark.parametrize(("direction", "action"), [("incoming", "reject"), ("outgoing", "terminate")])
async def test_a_call_that_rings_too_long_is_ended(machine: Machine, direction: str, action: str) -> None:
    machine.calls.ring_timeout = 0.05
    call = await incoming(machine) if direction == "incoming" else await machine.calls.make(machine.session, USER)
    for _ in range(100):
        if not call.live:
            break
        await asyncio.sleep(0.01)
    assert call.state is State.ENDED and "ring timeout" in (call.end_reason or "")
    assert machine.connector.actions[-1] == (action, call.id)


async def test_an_answered_call_has_no_ring_timer(machine: Machine) -> None:
    machine.calls.ring_timeout = 0.05
    call = await active_outgoing(machine)
    await asyncio.sleep(0.1)
    assert call.state is State.ACTIVE


async def test_lost_media_ends_the_call_and_tells_whatsapp(machine: Machine) -> None:
    call = await active_outgoing(machine)
    assert call.leg is not None and call.leg.on_lost is not None
    await call.leg.on_lost("failed")
    assert (call.state, call.end_reason) == (State.ENDED, MEDIA_FAILED)
    assert machine.connector.actions[-1] == ("terminate", call.id)


async def test_lost_media_waits_for_whatsapps_hang_up_to_say_why(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MEDIA_LOST_GRACE", 0.05)
    hung_up, silent = await active_outgoing(machine), await active_outgoing(machine)
    assert hung_up.leg is not None and hung_up.leg.on_lost is not None
    assert silent.leg is not None and silent.leg.on_lost is not None
    waits = [asyncio.ensure_future(hung_up.leg.on_lost("closed")), asyncio.ensure_future(silent.leg.on_lost("closed"))]
    await machine.deliver(CallTerminated(hung_up.id, "COMPLETED", 9))  # within the grace: WhatsApp says why
    await asyncio.gather(*waits)
    assert (hung_up.end_reason, hung_up.duration) == (f"hung up by {USER}", 9.0)
    assert silent.end_reason == MEDIA_LOST
    assert ("terminate", hung_up.id) not in machine.connector.actions
    assert machine.connector.actions[-1] == ("terminate", silent.id)


@pytest.mark.parametrize(("direction", "action"), [("incoming", "reject"), ("outgoing", "terminate")])
async def test_a_lost_nodes_call_is_ended_from_its_record(machine: Machine, direction: str, action: str) -> None:
    call = await incoming(machine) if direction == "incoming" else await active_outgoing(machine)
    stored = await machine.calls.records.load(call.id)
    assert stored is not None
    await machine.calls.abandon()  # its node, declared lost, lets go
    survivor = CallService(machine.calls.records, machine.feed, lambda _: machine.connector, 30, LOOPBACK)
    await survivor.end_orphan(stored, "its node was lost")
    row = await machine.record(call.id)
    assert (row.state, row.end_reason) == ("ended", "its node was lost")
    assert machine.connector.actions[-1] == (action, call.id)
    assert (await machine.events(call.id))[-2:] == ["CallTerminate", "CallState:ended"]
    await survivor.shutdown()


async def test_a_node_declared_lost_lets_go_of_its_calls_and_reports_nothing(machine: Machine) -> None:
    call = await active_outgoing(machine)
    before = await machine.events(call.id)
    await machine.calls.abandon()
    assert call.state is State.ENDED and machine.calls.live == {} and machine.calls.idle.is_set()
    assert machine.connector.legs[0].closed and machine.connector.actions == [("connect", call.id)]
    assert await machine.events(call.id) == before  # the survivor that ended it reports the end
    assert (await machine.record(call.id)).state == "active"


async def test_stopping_the_gateway_ends_its_calls_and_tells_whatsapp(machine: Machine) -> None:
    call = await active_outgoing(machine)
    await machine.calls.shutdown()
    assert (call.state, call.end_reason) == (State.ENDED, "the gateway stopped")
    assert machine.connector.actions[-1] == ("terminate", call.id)
    assert (await machine.record(call.id)).end_reason == "the gateway stopped"


async def test_calls_left_live_by_a_previous_process_are_ended_at_start(machine: Machine) -> None:
    call = await active_outgoing(machine)
    machine.calls.live.clear()  # as if the process had died
    restarted = CallService(machine.calls.records, machine.feed, lambda _: machine.connector, 30, LOOPBACK)
    await restarted.recover()
    row = await machine.record(call.id)
    assert (row.state, row.end_reason) == ("ended", "the gateway restarted during the call")
    await asyncio.sleep(0)  # WhatsApp is told in the background
    await restarted.shutdown()


async def test_the_live_feed_carries_each_transition(machine: Machine) -> None:
    with machine.feed.subscribe(machine.session.id) as everything:
        call = await active_outgoing(machine)
        with machine.feed.subscribe(machine.session.id, call.id) as this_call:
            await machine.calls.end(machine.session, call.id)
    seen = [type(everything.get_nowait()).__name__ for _ in range(everything.qsize())]
    assert seen == ["CallStateChanged", "CallAccepted", "CallStateChanged", "CallEnded", "CallStateChanged"]
    assert this_call.qsize() == 2
