"""What the emulated world is made of: business numbers, virtual users and calls."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from callbridge.emulator.calling_settings import CallingSettings
from callbridge.emulator.peer import UserPeer


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
    calling: CallingSettings = field(default_factory=CallingSettings)


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
    grants: str = "temporary"  # what the user grants when asked: temporary | permanent
    loss: float = 0.0


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
    callback_data: str | None = None  # the business's biz_opaque_callback_data, echoed on later webhooks
    pre_accepted_sdp: str | None = None
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
            "dtmf": {"payload_type": self.peer.keypad.payload_type, "sent": "".join(self.peer.keypad.sent)},
        }
