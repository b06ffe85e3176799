"""How the emulated world behaves: calls unfold, permissions are given, and Meta's timers end calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from callbridge.emulator import webhook_payloads as payloads
from callbridge.emulator.background import spawn
from callbridge.emulator.model import EmuCall, EmulatorError, Number, Permission, User
from callbridge.emulator.peer import UserPeer
from callbridge.emulator.voice import speak
from callbridge.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)


class World:
    def __init__(
        self,
        webhooks: WebhookSender,
        files_dir: Path,
        media_timeout: float = 20.0,
        accept_timeout: float = 60.0,
        ring_timeout: float = 60.0,
    ) -> None:
        self.webhooks = webhooks
        self.files_dir = files_dir
        self.media_timeout = media_timeout
        self.accept_timeout = accept_timeout
        self.ring_timeout = ring_timeout
        self.numbers: dict[str, Number] = {}
        self.users: dict[str, User] = {}
        self.permissions: dict[tuple[str, str], Permission] = {}
        self.calls: dict[str, EmuCall] = {}
        self.requests: list[dict[str, Any]] = []  # Graph API requests, for tests to inspect
        self._default_permission: dict[str, str] = {}  # per user, applied to numbers added later

    # ---- setup -----------------------------------------------------------------------------------------------

    def add_user(self, user: User, permission: str | None = None) -> None:
        self.users[user.wa_id] = user
        initial = permission or ("temporary" if user.grant_permission else "no_permission")
        for number in self.numbers.values():
            self._set_permission(number, user, initial)
        self._default_permission[user.wa_id] = initial

    def add_number(self, number: Number) -> None:
        self.numbers[number.phone_number_id] = number
        for user in self.users.values():
            self._set_permission(number, user, self._default_permission.get(user.wa_id, "no_permission"))

    def _set_permission(self, number: Number, user: User, status: str) -> None:
        self.permissions[(number.phone_number_id, user.wa_id)] = Permission.given_now(status)

    def permission(self, number: Number, wa_id: str) -> Permission:
        return self.permissions.setdefault((number.phone_number_id, wa_id), Permission())

    def number(self, phone_number_id: str) -> Number:
        number = self.numbers.get(phone_number_id)
        if number is None:
            raise EmulatorError(
                400,
                100,
                f"Unsupported request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                subcode=33,
            )
        return number

    def call(self, number: Number, call_id: str) -> EmuCall:
        call = self.calls.get(call_id)
        if call is None or call.number is not number:
            raise EmulatorError(400, 100, "(#100) Invalid parameter", details=f"Call {call_id} not found")
        return call

    # ---- user-initiated calls --------------------------------------------------------------------------------

    async def user_calls(self, wa_id: str, phone_number_id: str) -> EmuCall:
        user = self.users[wa_id]
        number = self.number(phone_number_id)
        call = EmuCall(_call_id(), number, user, "USER_INITIATED", UserPeer(markers=user.say == "markers"))
        call.peer.loss = user.loss
        self.calls[call.id] = call
        offer = await call.peer.offer()
        self._webhook(call, payloads.connect_value(call, "offer", offer))
        self._later(call, self.accept_timeout, self._not_accepted)
        # Calling a business grants it temporary permission to call back (callback_permission_status=ENABLED).
        self._set_permission(number, user, "temporary")
        return call

    async def pre_accept(self, call: EmuCall, answer_sdp: str) -> None:
        self._expect(call, "USER_INITIATED", ("ringing",))
        await call.peer.accept_answer(answer_sdp)
        call.state = "pre_accepted"
        self._start_media_watch(call)

    async def accept(self, call: EmuCall, answer_sdp: str) -> None:
        self._expect(call, "USER_INITIATED", ("ringing", "pre_accepted"))
        if call.state == "ringing":
            await call.peer.accept_answer(answer_sdp)
            self._start_media_watch(call)
        self._activate(call)

    async def reject(self, call: EmuCall) -> None:
        self._expect(call, "USER_INITIATED", ("ringing", "pre_accepted"))
        await self._end(call, "REJECTED", "rejected by the business")

    # ---- business-initiated calls ----------------------------------------------------------------------------

    async def business_calls(self, number: Number, wa_id: str, offer_sdp: str) -> EmuCall:
        user = self.users.get(wa_id)
        if user is None or not self.permission(number, wa_id).granted():
            raise EmulatorError(
                400,
                138006,
                "(#138006) No approved call permission from the recipient",
                details="Request call permission from the user before calling them.",
            )
        call = EmuCall(_call_id(), number, user, "BUSINESS_INITIATED", UserPeer(markers=user.say == "markers"))
        call.peer.loss = user.loss
        self.calls[call.id] = call
        self._spawn(call, self._ring(call, offer_sdp))
        return call

    async def _ring(self, call: EmuCall, offer_sdp: str) -> None:
        answer = await call.peer.answer(offer_sdp)
        self._start_media_watch(call)
        self._webhook(call, payloads.connect_value(call, "answer", answer))
        self._status(call, "RINGING")
        if call.user.no_answer:
            self._later(call, self.ring_timeout, self._not_answered)
            return
        await asyncio.sleep(call.user.answer_after_ms / 1000)
        if call.state != "ringing":
            return
        if call.user.reject:
            self._status(call, "REJECTED")
            await self._end(call, "REJECTED", "rejected by the user")
            return
        self._activate(call)
        self._status(call, "ACCEPTED")

    # ---- both directions -------------------------------------------------------------------------------------

    async def terminate(self, call: EmuCall) -> None:
        if call.state == "ended":
            raise EmulatorError(400, 100, "(#100) Invalid parameter", details=f"Call {call.id} has already ended")
        await self._end(call, "COMPLETED", "terminated by the business")

    async def hangup(self, call: EmuCall) -> None:
        """The user hangs up."""
        if call.state != "ended":
            await self._end(call, "COMPLETED", "hung up by the user")

    def _activate(self, call: EmuCall) -> None:
        call.state = "active"
        call.accepted_at = time.time()
        speak(call.peer.mouth, call.user.say, self.files_dir)
        if call.user.hangup_after_ms is not None:
            self._later(call, call.user.hangup_after_ms / 1000, self.hangup)

    async def _end(self, call: EmuCall, status: str, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        call.ended_at = time.time()
        call.end_reason = reason
        for task in list(call.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        self._webhook(call, payloads.terminate_value(call, status, errors))
        await call.peer.close()
        log.info("call %s ended: %s", call.id, reason)

    async def vanish(self, call: EmuCall) -> None:
        """The user's network disappears: no webhook, no DTLS goodbye, connectivity checks go unanswered."""
        call.peer.vanish()
        await self._end_quietly(call, "the user's network vanished")

    async def _end_quietly(self, call: EmuCall, reason: str) -> None:
        call.state = "ended"
        call.ended_at = time.time()
        call.end_reason = reason
        for task in list(call.tasks):
            task.cancel()

    async def _not_accepted(self, call: EmuCall) -> None:
        if call.state in ("ringing", "pre_accepted"):
            await self._end(
                call,
                "FAILED",
                "not accepted by the business in time",
                [{"code": 138021, "message": "Call not answered", "error_data": {"details": "accept deadline passed"}}],
            )

    async def _not_answered(self, call: EmuCall) -> None:
        if call.state == "ringing":
            await self._end(
                call,
                "FAILED",
                "not answered by the user",
                [
                    {
                        "code": 138021,
                        "message": "Call not answered",
                        "error_data": {"details": "the user did not answer"},
                    }
                ],
            )

    def _start_media_watch(self, call: EmuCall) -> None:
        call.media_started_at = time.monotonic()
        self._spawn(call, self._watch_media(call))

    async def _watch_media(self, call: EmuCall) -> None:
        """Meta's rule: a call that gets no valid Opus from the business for ~20 s is ended."""
        while call.state != "ended":
            await asyncio.sleep(0.5)
            heard = call.peer.last_heard() or call.media_started_at or time.monotonic()
            if time.monotonic() - heard > self.media_timeout:
                await self._end(call, "COMPLETED", f"no audio from the business for {self.media_timeout:g}s")

    # ---- permissions -----------------------------------------------------------------------------------------

    async def request_permission(self, number: Number, wa_id: str) -> str:
        user = self.users.get(wa_id)
        message_id = "wamid." + secrets.token_hex(12)
        if user is None:
            return message_id  # delivered to nobody, as WhatsApp would not tell either
        granted: Permission | None = None
        if user.grant_permission:
            self._set_permission(number, user, "temporary")
            granted = self.permission(number, wa_id)
        self.webhooks.send(number, "messages", payloads.permission_reply_value(user, granted))
        return message_id

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _expect(self, call: EmuCall, direction: str, states: tuple[str, ...]) -> None:
        if call.direction != direction or call.state not in states:
            raise EmulatorError(
                400,
                100,
                "(#100) Invalid parameter",
                details=f"Call {call.id} is {call.direction.lower()} and {call.state}; this action is not allowed",
            )

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
                with contextlib.suppress(Exception):
                    await self._end(call, "FAILED", "the emulator failed", [{"code": 1, "message": "internal"}])

        spawn(guarded(), call.tasks)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            for task in list(call.tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await call.peer.close()


def _call_id() -> str:
    return "wacid." + secrets.token_urlsafe(24)
