"""Everything one gateway process owns, wired together: settings, storage, connectors, calls, events."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from callbridge import __version__
from callbridge.calls.autoanswer import AutoAnswer
from callbridge.calls.feed import CallFeed
from callbridge.calls.permissions import Permissions
from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.cluster.forward import Forwarder
from callbridge.cluster.news_routing import NewsRouting
from callbridge.cluster.placement import ClusterPlacement, Placement
from callbridge.cluster.reaper import Reaper
from callbridge.cluster.registry import NodeRegistry
from callbridge.config import Settings
from callbridge.connectors.kinds import all_connectors
from callbridge.errors import InvalidRequest
from callbridge.events.dispatcher import Dispatcher
from callbridge.events.outbox import Outbox
from callbridge.events.outbox_admin import OutboxAdmin
from callbridge.file_library import FileLibrary
from callbridge.loop_lag import LoopLag
from callbridge.malloc_trim import MallocTrim
from callbridge.media import aiortc_fixes
from callbridge.media.ice import IceSettings, gather_on
from callbridge.media.lean import selection as media_path
from callbridge.media.turn_check import TurnStatus, check_turn
from callbridge.metrics.scrape import Metrics
from callbridge.sessions import SessionService
from callbridge.store import Database
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)
TURN_CHECK_EVERY = 300.0  # seconds


class ClusterNeedsPostgres(InvalidRequest):
    pass


class Gateway:
    """Everything one gateway process owns."""

    def __init__(self, settings: Settings, admin_token: str) -> None:
        self.settings = settings
        self.admin_token = admin_token
        if problem := settings.needs_postgres():
            raise ClusterNeedsPostgres(problem)
        self.node_id = settings.resolved_node_id()
        self.db = Database(settings.resolved_database_url(), settings.secret_box())
        # trust_env=False: never route Graph or webhook traffic through a proxy picked up from the environment.
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0), trust_env=False, follow_redirects=False)
        self.ice = IceSettings.parse(
            settings.ice_servers,
            settings.ice_hosts,
            turn_secret=settings.turn_secret.get_secret_value() if settings.turn_secret else None,
            turn_ttl=settings.turn_ttl,
            public_ip=settings.public_ip,
            relay_only=settings.ice_relay_only,
        )
        self.connectors = all_connectors(self.http, self.ice)
        self.sessions = SessionService(self.db, self.connectors.for_session)
        self.dispatcher = Dispatcher(
            self.db,
            timeout=settings.webhook_timeout,
            retry_base=settings.webhook_retry_base,
            retry_cap=settings.webhook_retry_cap,
            give_up_after=settings.webhook_give_up_after,
            allow_private=settings.webhook_allow_private,
            per_destination=settings.webhook_concurrency,
            node_id=self.node_id,
        )
        self.outbox = Outbox(self.dispatcher.notify, shared=settings.clustered)
        self.outbox_admin = OutboxAdmin(self.db, self.dispatcher.notify)
        self._turn_task: asyncio.Task[None] | None = None
        self.loop_lag = LoopLag()
        self.malloc_trim = MallocTrim()
        self.call_token_key = settings.call_token_key()
        self.turn = TurnStatus()
        self.records = CallRecords(self.db, self.outbox)
        self.feed = CallFeed()
        self.registry: NodeRegistry | None = None
        self.forwarder: Forwarder | None = None
        self.reaper: Reaper | None = None
        placement = Placement(self.node_id, settings.max_calls, lambda: len(self.calls.live))
        if settings.clustered:
            assert settings.cluster_secret is not None
            self.registry = NodeRegistry(
                self.db,
                self.node_id,
                settings.resolved_node_url(),
                max_calls=settings.max_calls,
                timeout=settings.node_timeout,
                live_calls=lambda: len(self.calls.live),
                on_declared_lost=lambda: self.calls.abandon(),
            )
            self.forwarder = Forwarder(self.registry, settings.cluster_secret.get_secret_value())
            placement = ClusterPlacement(self.registry, self.forwarder)
        self.calls = CallService(
            self.records,
            self.feed,
            self.connectors.for_session,
            settings.ring_timeout,
            self.ice,
            max_endpoints=settings.max_endpoints,
            placement=placement,
        )
        self.news = NewsRouting(self.calls, self.records, placement)
        if self.registry is not None:
            self.reaper = Reaper(self.db, self.registry, self.calls, self.records)
        self.calls.on_incoming = AutoAnswer(self.calls, settings.files_dir).on_incoming
        self.permissions = Permissions(self.connectors.for_session, self.records, self.feed)
        self.files = FileLibrary(settings.files_dir, self.db)
        self.metrics = Metrics(self.db, lambda: self.calls.live.values(), self.loop_lag, self.node_id, self._node_state)

    async def start(self) -> None:
        self.settings.ensure_dirs()
        gather_on(self.ice.hosts)
        aiortc_fixes.install()
        media_path.select(self.settings.media_path)
        await self.db.migrate()
        if self.registry is not None:
            await self.registry.start()
        await self.calls.recover()
        if self.reaper is not None:
            self.reaper.start()
        self.dispatcher.start()
        self.loop_lag.start()
        self.malloc_trim.start()
        self._turn_task = asyncio.create_task(self._watch_turn(), name="turn-check")
        log.info("gateway started", extra={"version": __version__})

    async def _watch_turn(self) -> None:
        """Ask the TURN server, now and every few minutes, whether it takes our credentials."""
        if not self.ice.turn_configured:
            return
        while True:
            self.turn = await check_turn(self.ice)
            await asyncio.sleep(TURN_CHECK_EVERY)

    async def stop(self) -> None:
        self.loop_lag.stop()
        self.malloc_trim.stop()
        if self._turn_task is not None:
            self._turn_task.cancel()
        if self.reaper is not None:
            await self.reaper.stop()
        await self.news.stop()
        await self.calls.shutdown()
        if self.registry is not None:
            await self.registry.stop()
        if self.forwarder is not None:
            await self.forwarder.close()
        await self.sessions.stop()
        await self.dispatcher.stop()
        await self.http.aclose()
        await self.db.close()

    def _node_state(self) -> str:
        return self.registry.state.value if self.registry is not None else "active"

    async def drain(self) -> None:
        """Take no new calls; return once this node's live calls have ended or the drain timeout has passed."""
        if self.registry is not None:
            await self.registry.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.calls.idle.wait(), timeout=self.settings.drain_timeout)
        log.info("drained: %d calls left to end", len(self.calls.live))

    async def delete_session(self, session: SessionRow) -> None:
        """End the session's calls, then forget it (its undelivered events go with it)."""
        await self.calls.end_session_calls(session)
        await self.sessions.delete(session.id)
        self.connectors.forget(session.id)
