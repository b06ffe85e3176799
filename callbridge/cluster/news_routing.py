"""Which node acts on WhatsApp's news: a new call is taken by the node that received Meta's delivery unless that
node is draining or full (then the least loaded node with room); news of a known call goes to the node that
carries it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.cluster.placement import Placement
from callbridge.connectors.base import Connector
from callbridge.connectors.events import CallNews, IncomingCall
from callbridge.errors import GatewayError
from callbridge.store.models import SessionRow
from callbridge.tasks import BackgroundTasks

log = logging.getLogger(__name__)


RECORD_WAIT = 10.0  # seconds news of a call unknown here waits for another node to record the call
RECORD_POLL = 0.1


class NewsRouting:
    def __init__(self, calls: CallService, records: CallRecords, placement: Placement) -> None:
        self.calls = calls
        self.records = records
        self.placement = placement
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._tasks = BackgroundTasks()

    async def stop(self) -> None:
        await self._tasks.stop(within=0)

    def release_held(self, session: SessionRow, connector: Connector) -> None:
        """The connector holds news of calls it has not seen begin; on a node of several, such a call is often
        one another node placed (or took): once the call is on record, its news goes to that node."""
        if not self.placement.clustered:
            return
        for call_id in connector.deliveries.held_calls():
            if call_id not in self._waiting:
                self._waiting[call_id] = self._tasks.spawn(self._release_when_recorded(session, connector, call_id))

    async def _release_when_recorded(self, session: SessionRow, connector: Connector, call_id: str) -> None:
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RECORD_WAIT
            while not await self.records.known(call_id):
                if loop.time() > deadline or call_id not in connector.deliveries.held_calls():
                    return
                await asyncio.sleep(RECORD_POLL)
            for news in connector.deliveries.announce(call_id):
                await self.handle(session, connector, news)
        except Exception:
            log.exception("news held for a call could not be handed on", extra={"call": call_id})
        finally:
            self._waiting.pop(call_id, None)

    async def handle(self, session: SessionRow, connector: Connector, news: CallNews) -> None:
        node = await self._node_for(session, connector, news)
        if node is None:
            return
        if node == self.placement.node_id:
            await self.calls.handle(session, news)
            return
        try:
            await self.placement.relay(node, session, news)
        except Exception as exc:  # the node is going: the survivors end its calls (cluster/reaper.py)
            log.warning("news of the call could not reach node %s: %s", node, exc, extra={"call": news.call_id})

    async def _node_for(self, session: SessionRow, connector: Connector, news: CallNews) -> str | None:
        """The node to act on ``news``; None when nobody should (a repeat, or a call no node can take)."""
        here = self.placement.node_id
        if news.call_id in self.calls.live:
            return here
        if isinstance(news, IncomingCall):
            if await self.records.known(news.call_id):
                return None  # a repeated delivery
            try:
                return await self.placement.node_for_new_call()
            except GatewayError as exc:
                log.warning("incoming call rejected: %s", exc.message, extra={"call": news.call_id})
                with contextlib.suppress(GatewayError):
                    await connector.reject_call(news.call_id)
                return None
        if not self.placement.clustered:
            return here
        stored = await self.records.load(news.call_id)
        if stored is not None and stored.live and self.placement.elsewhere(stored.node_id):
            return stored.node_id
        return here
