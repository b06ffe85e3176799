"""Webhooks to the business, as Meta sends them: in its envelope, signed with the app secret, retried."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from callbridge.emulator.background import spawn
from callbridge.emulator.model import Number
from callbridge.emulator.webhook_payloads import envelope

log = logging.getLogger(__name__)

SCRAMBLE_WINDOW = 0.3  # seconds of one call's webhooks held back, then sent reversed and twice


class WebhookSender:
    """Posts in the background, one queue per number, so that the order is Meta's and no Graph API request
    ever waits on the business's webhook handler (which may itself be waiting on that request)."""

    def __init__(self, http: httpx.AsyncClient, attempts: int = 5) -> None:
        self.http = http
        self.attempts = attempts
        self.sent: list[dict[str, Any]] = []
        self._held: dict[str, list[bytes]] = {}
        self._queues: dict[str, asyncio.Queue[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, number: Number, field: str, value: dict[str, Any], group: str | None = None) -> None:
        payload = envelope(number, field, value)
        self.sent.append(payload)
        body = json.dumps(payload).encode()
        if number.scramble_webhooks and group is not None:
            self._hold(number, group, body)
        else:
            self._queue(number).put_nowait(body)

    def _queue(self, number: Number) -> asyncio.Queue[bytes]:
        queue = self._queues.get(number.phone_number_id)
        if queue is None:
            queue = self._queues[number.phone_number_id] = asyncio.Queue()
            spawn(self._deliver(number, queue), self._tasks)
        return queue

    async def _deliver(self, number: Number, queue: asyncio.Queue[bytes]) -> None:
        while True:
            await self._post(number, await queue.get())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _hold(self, number: Number, group: str, body: bytes) -> None:
        if group in self._held:
            self._held[group].append(body)
            return
        self._held[group] = [body]

        async def flush() -> None:
            await asyncio.sleep(SCRAMBLE_WINDOW)
            for held in reversed(self._held.pop(group)):
                self._queue(number).put_nowait(held)
                self._queue(number).put_nowait(held)

        spawn(flush(), self._tasks)

    async def _post(self, number: Number, body: bytes) -> None:
        signature = "sha256=" + hmac.new(number.app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.http.post(number.webhook_url, content=body, headers=headers)
                if response.status_code == 200:
                    return
                log.warning("webhook answered %s: %s", response.status_code, response.text[:200])
            except httpx.HTTPError as exc:
                log.warning("webhook delivery failed: %r", exc)
            await asyncio.sleep(0.2 * 2**attempt)
        log.error("webhook dropped after %d attempts", self.attempts)
