"""What the emulated world is made of: business numbers, virtual users, call permissions, calls, and errors."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from callbridge.emulator.peer import UserPeer

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

    @classmethod
    def given_now(cls, status: str) -> Permission:
        """A permission in ``status`` from now on; a temporary one lasts PERMISSION_DAYS."""
        expires = int(time.time()) + PERMISSION_DAYS * 86400 if status == "temporary" else None
        return cls(status, expires)

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

    @property
    def caller(self) -> str:
        """The number the call is from: the user's wa_id, or the business's display number."""
        user_initiated = self.direction == "USER_INITIATED"
        return self.user.wa_id if user_initiated else self.number.display_phone_number

    @property
    def callee(self) -> str:
        user_initiated = self.direction == "USER_INITIATED"
        return self.number.display_phone_number if user_initiated else self.user.wa_id

    def view(self, last_seconds: float | None = None) -> dict[str, Any]:
        return {
            "call_id": self.id,
            "state": self.state,
            "direction": self.direction,
            "from": self.caller,
            "to": self.callee,
            "phone_number_id": self.number.phone_number_id,
            "wa_id": self.user.wa_id,
            "created_at": self.created_at,
            "accepted_at": self.accepted_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "media": self.peer.pc.connectionState,
            "heard": self.peer.ear.report(last_seconds),
        }
