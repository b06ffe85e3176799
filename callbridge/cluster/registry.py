"""The ``nodes`` table: each node registers, heartbeats with its load, and reads the others' to place calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from callbridge.store import Database
from callbridge.store.models import NodeRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)


class NodeState(StrEnum):
    ACTIVE = "active"  # takes new calls
    DRAINING = "draining"  # keeps its calls, takes no new ones
    STOPPED = "stopped"  # left cleanly
    LOST = "lost"  # stopped heartbeating; a survivor ended its calls


@dataclass(frozen=True)
class NodeInfo:
    id: str
    url: str
    state: NodeState
    live_calls: int
    max_calls: int

    @property
    def has_room(self) -> bool:
        return self.state is NodeState.ACTIVE and (not self.max_calls or self.live_calls < self.max_calls)


class NodeRegistry:
    """This node's row, kept fresh; and the live view of the others'."""

    def __init__(
        self,
        db: Database,
        node_id: str,
        url: str,
        *,
        max_calls: int,
        timeout: float,
        live_calls: Callable[[], int],
        on_declared_lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.db = db
        self.node_id = node_id
        self.url = url
        self.max_calls = max_calls
        self.timeout = timedelta(seconds=timeout)
        self.interval = max(0.2, timeout / 5)  # several beats per timeout: one slow write does not lose the node
        self.state = NodeState.ACTIVE
        self._live_calls = live_calls
        self._on_declared_lost = on_declared_lost
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._register()
        self._task = asyncio.create_task(self._beat(), name="node-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.state = NodeState.STOPPED
        async with self.db.session() as s:
            await s.execute(update(NodeRow).where(NodeRow.id == self.node_id).values(state=self.state, live_calls=0))
            await s.commit()

    async def drain(self) -> None:
        """Take no new calls from now on (the others see it at once)."""
        self.state = NodeState.DRAINING
        await self._heartbeat()

    def takes_calls(self) -> bool:
        return self.state is NodeState.ACTIVE and (not self.max_calls or self._live_calls() < self.max_calls)

    async def alive(self) -> list[NodeInfo]:
        """Nodes that heartbeat (this one included), least loaded first."""
        since = utcnow() - self.timeout
        query = (
            select(NodeRow)
            .where(NodeRow.state.in_((NodeState.ACTIVE, NodeState.DRAINING)), NodeRow.heartbeat_at >= since)
            .order_by(NodeRow.live_calls, NodeRow.id)
        )
        async with self.db.session() as s:
            rows = (await s.scalars(query)).all()
        return [NodeInfo(r.id, r.url, NodeState(r.state), r.live_calls, r.max_calls) for r in rows]

    async def _register(self) -> None:
        now = utcnow()
        async with self.db.session() as s:
            row = await s.get(NodeRow, self.node_id)
            if row is None:
                s.add(
                    NodeRow(
                        id=self.node_id,
                        url=self.url,
                        state=self.state,
                        live_calls=0,
                        max_calls=self.max_calls,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
            else:
                row.url, row.state, row.live_calls, row.max_calls = self.url, self.state, 0, self.max_calls
                row.started_at = row.heartbeat_at = now
            await s.commit()
        log.info("node %s registered at %s", self.node_id, self.url)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._heartbeat()
            except Exception:
                log.exception("node heartbeat failed")

    async def _heartbeat(self) -> None:
        async with self.db.session() as s:
            statement = (
                update(NodeRow)
                .where(NodeRow.id == self.node_id, NodeRow.state != NodeState.LOST)
                .values(state=self.state, live_calls=self._live_calls(), heartbeat_at=utcnow())
            )
            # An UPDATE executes to a CursorResult, which has the rowcount; Session.execute is typed as any Result.
            result = cast(CursorResult[Any], await s.execute(statement))
            await s.commit()
        if result.rowcount == 0:
            # Declared lost (a pause longer than the timeout): a survivor has ended our calls already.
            log.error("node %s was declared lost by the others: dropping its calls and joining again", self.node_id)
            await self._on_declared_lost()
            await self._register()
