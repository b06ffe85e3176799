"""One scrape of ``GET /metrics``: the outbox's depth read with one grouped query, then every family in
Prometheus' text format (the event-fed instruments and the gateway's state at this moment)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import func, select

from callbridge.calls.model import Call
from callbridge.loop_lag import LoopLag
from callbridge.metrics.collector import GatewayCollector
from callbridge.metrics.instruments import REGISTRY
from callbridge.store import Database
from callbridge.store.models import OutboxRow

log = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the classic text format: every Prometheus reads it


class Metrics:
    """The gateway's metrics; ``node_state`` tells what ``callbridge_node_state`` shows (active, draining...)."""

    def __init__(
        self,
        db: Database,
        live_calls: Callable[[], Iterable[Call]],
        loop_lag: LoopLag,
        node_id: str,
        node_state: Callable[[], str],
    ) -> None:
        self.db = db
        self.collector = GatewayCollector(live_calls, loop_lag, node_id, node_state)

    async def render(self) -> bytes:
        self.collector.outbox = await self._outbox_depth()
        return generate_latest(_Both(self.collector))

    async def _outbox_depth(self) -> dict[str, int] | None:
        query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        try:
            async with self.db.session() as s:
                return {status: count for status, count in (await s.execute(query)).tuples()}
        except Exception as exc:  # the database is down: the rest of the figures still say something
            log.warning("metrics: the outbox could not be counted: %s", exc)
            return None


class _Both:
    """The event-fed instruments' registry and the gateway's collector, as one source for generate_latest."""

    def __init__(self, collector: GatewayCollector) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        yield from self.collector.collect()
