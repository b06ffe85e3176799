"""The emulator's state: business numbers, virtual users, permissions and calls, and how calls unfold."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callbridge.emulator.audio import decode_file, tone
from callbridge.emulator.peer import UserPeer
from callbridge.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

PERMISSION_DAYS = 7


class EmulatorError(Exception):
    """Answered the way the Graph API answers errors."""

    def __init__(self, status: int, code: int, message: str, details: str | None = None, subcode: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.subcode = status, code, message, details, subcode


@dataclass
class Number:
    phone_number_id: str
    display_phone_number: str
    access_token: str
    app_secret: str
    verify_token: str
    webhook_url: str
    waba_id: str = "100000000000001"
    scramble_webhooks: bool = False  # deliver each call's webhooks reversed and twice


@dataclass
class User:
    wa_id: str
    name: str = "Virtual User"
    answer_after_ms: int = 500
    say: str = "tone:440"
    hangup_after_ms: int | None = None
    reject: bool = False
    no_answer: bool = False
    grant_permission: bool = True
    loss: float = 0.0


@dataclass
class Permission:
    status: str = "no_permission"  # temporary | permanent | no_permission
    expires_at: int | None = None

    def granted(self) -> bool:
        if self.status == "permanent":
            return True
        return self.status == "temporary" and (self.expires_at or 0) > time.time()


@dataclass(eq=False)
class EmuCall:
    id: str
    number: Number
    user: User
    direction: str  # USER_INITIATED | BUSINESS_INITIATED
    peer: UserPeer
    state: str = "ringing"  # ringing | pre_accepted | active | ended
    created_at: float = field(default_factory=time.time)
    accepted_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    media_started_at: float | None = None
    business_sdps: list[dict[str, str]] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def view(self, last_seconds: float | None = None) -> dict[str, Any]:
        user_side, business_side = self.user.wa_id, self.number.display_phone_number
        return {
            "call_id": self.id,
            "state": self.state,
            "direction": self.direction,
            "from": user_side if self.direction == "USER_INITIATED" else business_side,
            "to": business_side if self.direction == "USER_INITIATED" else user_side,
            "phone_number_id": self.number.phone_number_id,
            "wa_id": self.user.wa_id,
            "created_at": self.created_at,
            "accepted_at": self.accepted_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "media": self.peer.pc.connectionState,
            "heard": self.peer.ear.report(last_seconds),
        }


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
        expires = int(time.time()) + PERMISSION_DAYS * 86400 if status == "temporary" else None
        self.permissions[(number.phone_number_id, user.wa_id)] = Permission(status, expires)

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
        await self._webhook(
            call,
            "calls",
            {
                "contacts": [{"profile": {"name": user.name}, "wa_id": user.wa_id}],
                "calls": [{**self._call_header(call, "connect"), "session": {"sdp_type": "offer", "sdp": offer}}],
            },
        )
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
        await self._webhook(
            call,
            "calls",
            {
                "calls": [{**self._call_header(call, "connect"), "session": {"sdp_type": "answer", "sdp": answer}}],
            },
        )
        await self._status(call, "RINGING")
        if call.user.no_answer:
            self._later(call, self.ring_timeout, self._not_answered)
            return
        await asyncio.sleep(call.user.answer_after_ms / 1000)
        if call.state != "ringing":
            return
        if call.user.reject:
            await self._status(call, "REJECTED")
            await self._end(call, "REJECTED", "rejected by the user")
            return
        self._activate(call)
        await self._status(call, "ACCEPTED")

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
        self._say(call)
        if call.user.hangup_after_ms is not None:
            self._later(call, call.user.hangup_after_ms / 1000, self.hangup)

    def _say(self, call: EmuCall) -> None:
        say = call.user.say
        mouth = call.peer.mouth
        if say.startswith("tone:"):
            mouth.say_samples(tone(float(say[5:]), 1.0))  # one second, looped: an exact number of cycles
        elif say.startswith("file:"):
            mouth.say_samples(decode_file(self.files_dir / say[5:]))
        elif say == "echo":
            mouth.say_echo()
        elif say == "markers":
            pass  # the marker track speaks from the start
        else:
            mouth.say_silence()

    async def _end(self, call: EmuCall, status: str, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        if call.state == "ended":
            return
        answered = call.accepted_at is not None
        call.state = "ended"
        call.ended_at = time.time()
        call.end_reason = reason
        for task in list(call.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        terminate: dict[str, Any] = {**self._call_header(call, "terminate"), "status": status}
        if answered:
            terminate.update(
                start_time=str(int(call.accepted_at or 0)),
                end_time=str(int(call.ended_at)),
                duration=round(call.ended_at - (call.accepted_at or call.ended_at)),
            )
        if errors:
            terminate["errors"] = errors
        await self._webhook(call, "calls", {"calls": [terminate]})
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
        permission = self.permission(number, wa_id)
        reply: dict[str, Any] = {"response": "reject", "response_source": "user_action"}
        if user.grant_permission:
            self._set_permission(number, user, "temporary")
            permission = self.permission(number, wa_id)
            reply = {
                "response": "accept",
                "expiration_timestamp": permission.expires_at,
                "response_source": "user_action",
            }
        self.webhooks.send(
            number,
            "messages",
            {
                "contacts": [{"profile": {"name": user.name}, "wa_id": wa_id}],
                "messages": [
                    {
                        "from": wa_id,
                        "id": "wamid." + secrets.token_hex(12),
                        "timestamp": str(int(time.time())),
                        "type": "interactive",
                        "interactive": {"type": "call_permission_reply", "call_permission_reply": reply},
                    }
                ],
            },
        )
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

    def _call_header(self, call: EmuCall, event: str) -> dict[str, Any]:
        view = call.view()
        return {
            "id": call.id,
            "from": view["from"],
            "to": view["to"],
            "event": event,
            "timestamp": str(int(time.time())),
            "direction": call.direction,
        }

    async def _status(self, call: EmuCall, status: str) -> None:
        await self._webhook(
            call,
            "calls",
            {
                "statuses": [
                    {
                        "id": call.id,
                        "timestamp": str(int(time.time())),
                        "type": "call",
                        "status": status,
                        "recipient_id": call.user.wa_id,
                    }
                ]
            },
        )

    async def _webhook(self, call: EmuCall, field_name: str, value: dict[str, Any]) -> None:
        self.webhooks.send(call.number, field_name, value, group=call.id)

    def _later(self, call: EmuCall, seconds: float, action: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            await action(call)

        self._spawn(call, run())

    def _spawn(self, call: EmuCall, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("emulated call %s failed", call.id)
                with contextlib.suppress(Exception):
                    await self._end(call, "FAILED", "the emulator failed", [{"code": 1, "message": "internal"}])

        task = asyncio.create_task(guarded())
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            for task in list(call.tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await call.peer.close()


def _call_id() -> str:
    return "wacid." + secrets.token_urlsafe(24)
