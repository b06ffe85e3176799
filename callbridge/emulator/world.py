"""How the emulated world behaves: calls unfold, permissions are given and limited, and Meta's timers end calls.

Flows from Meta's "User-initiated calls" and "Business-Initiated Calls" pages; permissions from "Obtain User
Call Permissions"; calling settings from "Configure Call Settings".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from callbridge.emulator import webhook_payloads as payloads
from callbridge.emulator.call_keeper import CallKeeper
from callbridge.emulator.errors import EmulatorError, calling_not_enabled, duplicate_call, invalid, no_permission
from callbridge.emulator.model import EmuCall, Number, User
from callbridge.emulator.peer import UserPeer
from callbridge.emulator.permissions import Pair, Permission
from callbridge.emulator.sdp_rules import same_sdp
from callbridge.emulator.voice import speak
from callbridge.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)
PRESS_MS = 160  # how long a user who answers with "dtmf:KEYS" holds each key


class Refused(Exception):
    """What the user cannot do in the app: no request reaches Meta, so no Graph error either."""


class World(CallKeeper):
    def __init__(
        self,
        webhooks: WebhookSender,
        files_dir: Path,
        media_timeout: float = 20.0,
        accept_timeout: float = 60.0,
        ring_timeout: float = 60.0,
        established_media_timeout: float | None = None,
    ) -> None:
        # Meta's media limits are 20 s at the start of a call and 30 s once established: the second keeps that
        # ratio to the first unless given.
        super().__init__(webhooks, media_timeout, established_media_timeout or media_timeout * 1.5)
        self.files_dir = files_dir
        self.accept_timeout = accept_timeout
        self.ring_timeout = ring_timeout
        self.numbers: dict[str, Number] = {}
        self.users: dict[str, User] = {}
        self.pairs: dict[tuple[str, str], Pair] = {}
        self.requests: list[dict[str, Any]] = []  # Graph API requests, for tests to inspect
        self._default_permission: dict[str, str] = {}  # per user, applied to numbers added later

    # ---- setup -----------------------------------------------------------------------------------------------

    def add_user(self, user: User, permission: str | None = None) -> None:
        self.users[user.wa_id] = user
        initial = permission or ("temporary" if user.grant_permission else "no_permission")
        for number in self.numbers.values():
            self.pair(number, user.wa_id).permission = Permission.given_now(initial)
        self._default_permission[user.wa_id] = initial

    def add_number(self, number: Number) -> None:
        self.numbers[number.phone_number_id] = number
        for user in self.users.values():
            status = self._default_permission.get(user.wa_id, "no_permission")
            self.pair(number, user.wa_id).permission = Permission.given_now(status)

    def pair(self, number: Number, wa_id: str) -> Pair:
        return self.pairs.setdefault((number.phone_number_id, wa_id), Pair())

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
            raise invalid(f"Call {call_id} not found")  # Meta lists "Invalid call-id" without a code
        return call

    def _live_call(self, number: Number, wa_id: str) -> EmuCall | None:
        return next(
            (c for c in self.calls.values() if c.number is number and c.user.wa_id == wa_id and c.state != "ended"),
            None,
        )

    def _new_call(self, number: Number, user: User, direction: str) -> EmuCall:
        call = EmuCall(_call_id(), number, user, direction, UserPeer(markers=user.say == "markers"))
        call.peer.loss = user.loss
        self.calls[call.id] = call
        return call

    # ---- user-initiated calls --------------------------------------------------------------------------------

    async def user_calls(self, wa_id: str, phone_number_id: str) -> EmuCall:
        user = self.users[wa_id]
        number = self.number(phone_number_id)
        reason = number.calling.takes_user_calls(dt.datetime.now(dt.UTC))
        if reason is None and self._live_call(number, wa_id) is not None:
            reason = "the user already has a call with this business"
        if reason is not None:
            raise Refused(reason)
        call = self._new_call(number, user, "USER_INITIATED")
        offer = await call.peer.offer()
        self._webhook(call, payloads.connect_value(call, "offer", offer))
        self._later(call, self.accept_timeout, self._not_accepted)
        if number.calling.callback_permission:
            self._callback_permission(call)
        return call

    def _callback_permission(self, call: EmuCall) -> None:
        """Calling a business with callback_permission_status ENABLED grants it a temporary permission, and Meta
        sends an automatic call_permission_reply whose context is the call."""
        pair = self.pair(call.number, call.user.wa_id)
        if pair.permission.status == "permanent":
            return  # nothing to grant
        pair.permission = Permission.given_now("temporary")
        reply = payloads.permission_reply(pair.permission, source="automatic")
        self.webhooks.send(call.number, "messages", payloads.permission_reply_value(call.user, reply, call.id))

    async def pre_accept(self, call: EmuCall, answer_sdp: str) -> None:
        self._expect(call, "USER_INITIATED", ("ringing",))
        await call.peer.accept_answer(answer_sdp)
        call.pre_accepted_sdp = answer_sdp
        call.state = "pre_accepted"
        self._start_media_watch(call)

    async def accept(self, call: EmuCall, answer_sdp: str, callback_data: str | None = None) -> None:
        self._expect(call, "USER_INITIATED", ("ringing", "pre_accepted"))
        if call.pre_accepted_sdp is not None and not same_sdp(call.pre_accepted_sdp, answer_sdp):
            # Meta lists this error ("SDP answer provided in accept does not match the SDP answer given in the
            # Pre-Accept endpoint") without a code: the generic 100.
            raise invalid("SDP answer provided in accept does not match the SDP answer given in pre_accept")
        if call.state == "ringing":
            await call.peer.accept_answer(answer_sdp)
            self._start_media_watch(call)
        call.callback_data = callback_data if callback_data is not None else call.callback_data
        self._activate(call)

    async def reject(self, call: EmuCall) -> None:
        self._expect(call, "USER_INITIATED", ("ringing", "pre_accepted"))
        await self._end(call, "COMPLETED", "rejected by the business")

    async def _not_accepted(self, call: EmuCall) -> None:
        # Meta: the user sees "Not Answered" and a terminate webhook follows; it documents no error code for this,
        # and of its two statuses a call that was never picked up is not a failure of the media.
        if call.state in ("ringing", "pre_accepted"):
            await self._end(call, "COMPLETED", "not accepted by the business in time")

    # ---- business-initiated calls ----------------------------------------------------------------------------

    async def business_calls(self, number: Number, wa_id: str, offer_sdp: str, callback_data: str | None) -> EmuCall:
        if not number.calling.enabled:
            raise calling_not_enabled()
        user = self.users.get(wa_id)
        if user is None:
            raise no_permission()  # Meta cannot tell who is on WhatsApp, so no one is reported as "no permission"
        self.pair(number, wa_id).check_call(time.time())
        if self._live_call(number, wa_id) is not None:
            raise duplicate_call()
        call = self._new_call(number, user, "BUSINESS_INITIATED")
        call.callback_data = callback_data
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
            self._unanswered(call)
            # Meta's terminate webhooks carry COMPLETED or FAILED only; the REJECTED status above says why.
            await self._end(call, "COMPLETED", "rejected by the user")
            return
        self._activate(call)
        self._status(call, "ACCEPTED")

    async def _not_answered(self, call: EmuCall) -> None:
        # Meta documents no error code for a call the user let ring (its SIP table has 480 for it).
        if call.state == "ringing":
            self._unanswered(call)
            await self._end(call, "COMPLETED", "not answered by the user")

    def _unanswered(self, call: EmuCall) -> None:
        """Meta: 4 consecutive unanswered business calls revoke the permission, with an automatic reject reply."""
        if self.pair(call.number, call.user.wa_id).not_answered():
            reply = payloads.permission_reply(None, source="automatic")
            self.webhooks.send(call.number, "messages", payloads.permission_reply_value(call.user, reply, None))

    # ---- both directions -------------------------------------------------------------------------------------

    def _activate(self, call: EmuCall) -> None:
        call.state = "active"
        call.accepted_at = time.time()
        self.pair(call.number, call.user.wa_id).connected(call.accepted_at, call.direction == "BUSINESS_INITIATED")
        speak(call.peer.mouth, call.user.say, self.files_dir)
        if call.user.say.startswith("dtmf:"):
            if call.peer.keypad.payload_type is None:
                log.warning("call %s: no telephone-event agreed, so %s cannot be pressed", call.id, call.user.say)
            call.peer.keypad.press(call.user.say[5:], PRESS_MS)
        if call.user.hangup_after_ms is not None:
            self._later(call, call.user.hangup_after_ms / 1000, self.hangup)

    def _expect(self, call: EmuCall, direction: str, states: tuple[str, ...]) -> None:
        if call.direction != direction or call.state not in states:
            # Meta lists "Accept/Reject an already In Progress/Completed/Failed call" without a code.
            raise invalid(f"Call {call.id} is {call.direction.lower()} and {call.state}; this action is not allowed")

    # ---- permission requests ---------------------------------------------------------------------------------

    async def request_permission(self, number: Number, wa_id: str) -> str:
        if not number.calling.enabled:
            raise calling_not_enabled()
        pair = self.pair(number, wa_id)
        now = time.time()
        pair.check_request(now)
        pair.requests.append(now)
        message_id = "wamid." + secrets.token_hex(12)
        user = self.users.get(wa_id)
        if user is None:
            return message_id  # delivered to nobody, as WhatsApp would not tell either
        granted: Permission | None = None
        if user.grant_permission:
            pair.permission = granted = Permission.given_now(user.grants)
        reply = payloads.permission_reply(granted)
        self.webhooks.send(number, "messages", payloads.permission_reply_value(user, reply, message_id))
        return message_id


def _call_id() -> str:
    return "wacid." + secrets.token_urlsafe(24)
