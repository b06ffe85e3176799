"""The running of emulated calls: their background tasks, how they end, and Meta's media timeout."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from callbridge.emulator import webhook_payloads as payloads
from callbridge.emulator.background import spawn
from callbridge.emulator.errors import invalid, media_receive_timeout, webhook_error
from callbridge.emulator.model import EmuCall
from callbridge.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)


class CallKeeper:
    def __init__(self, webhooks: WebhookSender, media_timeout: float, established_media_timeout: float) -> None:
        self.webhooks = webhooks
        self.media_timeout = media_timeout
        self.established_media_timeout = established_media_timeout
        self.calls: dict[str, EmuCall] = {}

    async def terminate(self, call: EmuCall) -> None:
        if call.state == "ended":
            # Meta lists "The WhatsApp user has already terminated the call" without a code.
            raise invalid(f"Call {call.id} has already ended")
        await self._end(call, "COMPLETED", "terminated by the business")

    async def hangup(self, call: EmuCall) -> None:
        """The user hangs up."""
        if call.state != "ended":
            await self._end(call, "COMPLETED", "hung up by the user")

    async def vanish(self, call: EmuCall) -> None:
        """The user's network disappears: no webhook, no DTLS goodbye, connectivity checks go unanswered."""
        call.peer.vanish()
        self._end_quietly(call, "the user's network vanished")

    async def _end(self, call: EmuCall, status: str, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        if call.state == "ended":
            return
        self._end_quietly(call, reason)
        self._webhook(call, payloads.terminate_value(call, status, errors))
        await call.peer.close()
        log.info("call %s ended: %s", call.id, reason)

    def _end_quietly(self, call: EmuCall, reason: str) -> None:
        call.state = "ended"
        call.ended_at = time.time()
        call.end_reason = reason
        for task in list(call.tasks):
            if task is not asyncio.current_task():
                task.cancel()

    # ---- Meta's media rule -------------------------------------------------------------------------------------

    def _start_media_watch(self, call: EmuCall) -> None:
        call.media_started_at = time.monotonic()
        self._spawn(call, self._watch_media(call))

    async def _watch_media(self, call: EmuCall) -> None:
        """Meta's troubleshooting page, "Media related issues": with no media from the business for 20 s at the
        start of a call, or for 30 s once it is established, the WhatsApp client ends the call; the terminate
        webhook says FAILED with 138021 "Media receive timeout". (Meta counts RTCP too once established; the
        emulator counts audio only.)"""
        while call.state != "ended":
            await asyncio.sleep(0.5)
            heard = call.peer.last_heard()
            limit = self.media_timeout if heard is None else self.established_media_timeout
            since = heard if heard is not None else call.media_started_at or time.monotonic()
            if time.monotonic() - since > limit:
                reason = f"no audio from the business for {limit:g}s"
                await self._end(call, "FAILED", reason, [media_receive_timeout(limit)])

    # ---- helpers -----------------------------------------------------------------------------------------------

    def _status(self, call: EmuCall, status: str) -> None:
        self._webhook(call, payloads.status_value(call, status))

    def _webhook(self, call: EmuCall, value: dict[str, Any]) -> None:
        self.webhooks.send(call.number, "calls", value, group=call.id)

    def _later(self, call: EmuCall, seconds: float, action: Callable[[EmuCall], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            await action(call)

        self._spawn(call, run())

    def _spawn(self, call: EmuCall, coro: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("emulated call %s failed", call.id)
                # 131000 "Something went wrong", Meta's generic error (YCloud's sample shows it on a failed call).
                failure = webhook_error(131000, "Something went wrong", "the emulator failed; see its log")
                with contextlib.suppress(Exception):
                    await self._end(call, "FAILED", "the emulator failed", [failure])

        spawn(guarded(), call.tasks)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            for task in list(call.tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await call.peer.close()
