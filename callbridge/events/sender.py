"""One delivery attempt of one outbox event, and what it leaves in the table: delivered, due again later, or dead."""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

import httpx
from sqlalchemy import update

from callbridge.events.wago import SIGNATURE_HEADER, form_body, sign
from callbridge.events.webhook_address import RefusedAddress, resolve
from callbridge.metrics.instruments import observe_delivery
from callbridge.store import Database
from callbridge.store.models import OutboxRow, SessionRow
from callbridge.store.types import utcnow

log = logging.getLogger(__name__)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": between half and all of min(cap, base·2^(n-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.random() * ceiling / 2


async def post_pinned(
    http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *, allow_private: bool
) -> httpx.Response:
    """POST to the addresses just checked, not to whatever the name resolves to a moment later (DNS rebinding);
    the name still goes in Host and in TLS (SNI and the certificate check)."""
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = await resolve(host, port, allow_private)
    headers = {**headers, "Host": target.netloc.decode("ascii")}
    error: httpx.ConnectError | None = None
    for address in addresses:  # as a browser would: the next address when one refuses the connection
        try:
            return await http.post(
                target.copy_with(host=address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": host},
            )
        except httpx.ConnectError as exc:
            error = exc
    raise error or OSError(f"{host} resolves to no address")


class Sender:
    def __init__(
        self,
        db: Database,
        http: httpx.AsyncClient,
        *,
        retry_base: float,
        retry_cap: float,
        give_up_after: float,
        allow_private: bool,
    ) -> None:
        self.db = db
        self.http = http
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.give_up_after = timedelta(seconds=give_up_after)
        self.allow_private = allow_private

    async def attempt(self, row: OutboxRow, session: SessionRow) -> bool:
        """POST the event once; True when the app took it (2xx)."""
        if not session.webhook_url:
            await self._finish(row, "dead", error="the session has no webhook URL any more")
            return False
        body = form_body(session.token, row.type, row.payload)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Callbridge-Event-Id": row.event_id,
            "X-Callbridge-Event-Type": row.type,
            "X-Callbridge-Attempt": str(row.attempts + 1),
        }
        if session.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(session.webhook_secret, body)
        started = time.perf_counter()
        try:
            response = await post_pinned(
                self.http, session.webhook_url, body, headers, allow_private=self.allow_private
            )
            error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except RefusedAddress as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except OSError as exc:  # the name does not resolve
            error = f"cannot resolve the webhook's host: {exc}"
        observe_delivery(time.perf_counter() - started, error)
        if error is None:
            await self._finish(row, "delivered")
            return True
        await self._failed(row, error)
        return False

    async def _failed(self, row: OutboxRow, error: str) -> None:
        attempts = row.attempts + 1
        now = utcnow()
        if now - row.created_at >= self.give_up_after:
            log.warning("webhook event dead after %d attempts: %s", attempts, error, extra={"event": row.event_id})
            await self._finish(row, "dead", error=error, attempts=attempts)
            return
        delay = retry_delay(attempts, self.retry_base, self.retry_cap)
        log.info("webhook delivery failed (%s); retry in %.1fs", error, delay, extra={"event": row.event_id})
        async with self.db.session() as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.status == "pending")
                .values(
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=now + timedelta(seconds=delay),
                    claimed_by=None,
                    claimed_until=None,
                )
            )
            await s.commit()

    async def _finish(self, row: OutboxRow, status: str, error: str | None = None, attempts: int | None = None) -> None:
        values: dict[str, object] = {
            "status": status,
            "attempts": attempts or row.attempts + 1,
            "claimed_by": None,
            "claimed_until": None,
        }
        if status == "delivered":
            values["delivered_at"] = utcnow()
        if error is not None:
            values["last_error"] = error
        async with self.db.session() as s:
            await s.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(**values))
            await s.commit()
