"""Which node acts on WhatsApp's news: a new call is taken by the node that received Meta's delivery unless that
node is draining or full (then the least loaded node with room); news of a known call goes to the node that
carries it."""

from __future__ import annotations

import contextlib
import logging

from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.cluster.placement import Placement
from callbridge.connectors.base import Connector
from callbridge.connectors.events import CallNews, IncomingCall
from callbridge.errors import GatewayError
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)


class NewsRouting:
    def __init__(self, calls: CallService, records: CallRecords, placement: Placement) -> None:
        self.calls = calls
        self.records = records
        self.placement = placement

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
        if not self.placement.clustered or news.call_id in self.calls.live:
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
        stored = await self.records.load(news.call_id)
        if stored is not None and stored.live and self.placement.elsewhere(stored.node_id):
            return stored.node_id
        return here
