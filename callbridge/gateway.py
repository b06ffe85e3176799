"""Everything one gateway process owns, wired together: settings, storage, connectors, calls, events."""

from __future__ import annotations

import asyncio
import logging

import httpx

from callbridge import __version__
from callbridge.calls.autoanswer import AutoAnswer
from callbridge.calls.feed import CallFeed
from callbridge.calls.permissions import Permissions
from callbridge.calls.records import CallRecords
from callbridge.calls.service import CallService
from callbridge.config import Settings
from callbridge.connectors.kinds import all_connectors
from callbridge.events.dispatcher import Dispatcher
from callbridge.events.outbox import Outbox
from callbridge.events.outbox_admin import OutboxAdmin
from callbridge.loop_lag import LoopLag
from callbridge.malloc_trim import MallocTrim
from callbridge.media import aiortc_fixes
from callbridge.media.ice import IceSettings, gather_on
from callbridge.media.turn_check import TurnStatus, check_turn
from callbridge.metrics.scrape import Metrics, node_id_of
from callbridge.sessions import SessionService
from callbridge.store import Database
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)
TURN_CHECK_EVERY = 300.0  # seconds


class Gateway:
    """Everything one gateway process owns."""

    def __init__(self, settings: Settings, admin_token: str) -> None:
        self.settings = settings
        self.admin_token = admin_token
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
        )
        self.outbox = Outbox(self.dispatcher.notify)
        self.outbox_admin = OutboxAdmin(self.db, self.dispatcher.notify)
        self._turn_task: asyncio.Task[None] | None = None
        self.loop_lag = LoopLag()
        self.malloc_trim = MallocTrim()
        self.call_token_key = settings.call_token_key()
        self.turn = TurnStatus()
        self.records = CallRecords(self.db, self.outbox)
        self.feed = CallFeed()
        self.calls = CallService(
            self.records,
            self.feed,
            self.connectors.for_session,
            settings.ring_timeout,
            self.ice,
            max_endpoints=settings.max_endpoints,
        )
        self.calls.on_incoming = AutoAnswer(self.calls, settings.files_dir).on_incoming
        self.permissions = Permissions(self.connectors.for_session, self.records, self.feed)
        self.metrics = Metrics(self.db, lambda: self.calls.live.values(), self.loop_lag, node_id_of(settings))

    async def start(self) -> None:
        self.settings.ensure_dirs()
        gather_on(self.ice.hosts)
        aiortc_fixes.install()
        await self.db.migrate()
        await self.calls.recover()
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
        await self.calls.shutdown()
        await self.sessions.stop()
        await self.dispatcher.stop()
        await self.http.aclose()
        await self.db.close()

    async def delete_session(self, session: SessionRow) -> None:
        """End the session's calls, then forget it (its undelivered events go with it)."""
        await self.calls.end_session_calls(session)
        await self.sessions.delete(session.id)
        self.connectors.forget(session.id)
