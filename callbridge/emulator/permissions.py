"""Call permissions per business number and WhatsApp user, with Meta's limits.

From Meta's "Obtain User Call Permissions" page (developers.facebook.com/documentation/business-messaging/
whatsapp/calling/user-call-permissions, Nov 2025):
- a temporary permission lasts 7 days (168 h) from the user's approval; a permanent one does not expire;
- at most 1 permission request in 24 h and 2 in 7 days, reset by any connected call between the two;
- at most 100 connected business-initiated calls in 24 h (``start_call``; the sample shows 5, the text 100);
- 4 consecutive unanswered (or rejected) business-initiated calls revoke an approved permission.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from callbridge.emulator.errors import (
    business_call_limit,
    no_permission,
    permanent_permission_exists,
    permission_request_limit,
)

PERMISSION_SECONDS = 7 * 86400
DAY = 86400
REQUEST_LIMITS = (("PT24H", DAY, 1), ("P7D", 7 * DAY, 2))
CALL_LIMITS = (("PT24H", DAY, 100),)
REVOKED_AFTER_UNANSWERED = 4


@dataclass
class Permission:
    status: str = "no_permission"  # temporary | permanent | no_permission
    expires_at: int | None = None

    @classmethod
    def given_now(cls, status: str) -> Permission:
        """A permission in ``status`` from now on; a temporary one lasts PERMISSION_SECONDS."""
        expires = int(time.time()) + PERMISSION_SECONDS if status == "temporary" else None
        return cls(status, expires)

    def granted(self, now: float | None = None) -> bool:
        if self.status == "permanent":
            return True
        return self.status == "temporary" and (self.expires_at or 0) > (time.time() if now is None else now)


@dataclass
class Pair:
    """What Meta keeps for one business number and one user."""

    permission: Permission = field(default_factory=Permission)
    requests: list[float] = field(default_factory=list)  # permission requests sent since the last connected call
    connected_calls: list[float] = field(default_factory=list)  # business-initiated calls the user picked up
    unanswered: int = 0  # consecutive business-initiated calls not picked up

    def check_request(self, now: float) -> None:
        """Raise Meta's error if the business may not send a permission request now."""
        if self.permission.status == "permanent":
            raise permanent_permission_exists()
        until = _blocked_until(self.requests, REQUEST_LIMITS, now)
        if until is not None:
            raise permission_request_limit(until)

    def check_call(self, now: float) -> None:
        if not self.permission.granted(now):
            raise no_permission()
        until = _blocked_until(self.connected_calls, CALL_LIMITS, now)
        if until is not None:
            raise business_call_limit(until)

    def connected(self, now: float, business_initiated: bool) -> None:
        self.requests.clear()  # "These limits reset when any connected call ... is made"
        self.unanswered = 0
        if business_initiated:
            self.connected_calls.append(now)

    def not_answered(self) -> bool:
        """Count a business call the user did not pick up; True when that revokes the permission."""
        self.unanswered += 1
        if self.unanswered >= REVOKED_AFTER_UNANSWERED and self.permission.granted():
            self.permission = Permission()
            return True
        return False

    def state(self, now: float) -> dict[str, Any]:
        """The body of ``GET /{phone-number-id}/call_permissions``: limits and flags computed from the history."""
        granted = self.permission.granted(now)
        permission: dict[str, Any] = {"status": self.permission.status if granted else "no_permission"}
        if granted and self.permission.expires_at is not None:
            permission["expiration_time"] = self.permission.expires_at
        can_request = self.permission.status != "permanent"
        can_request = can_request and _blocked_until(self.requests, REQUEST_LIMITS, now) is None
        can_call = granted and _blocked_until(self.connected_calls, CALL_LIMITS, now) is None
        return {
            "messaging_product": "whatsapp",
            "permission": permission,
            "actions": [
                {
                    "action_name": "send_call_permission_request",
                    "can_perform_action": can_request,
                    "limits": _limits(self.requests, REQUEST_LIMITS, now),
                },
                {
                    "action_name": "start_call",
                    "can_perform_action": can_call,
                    "limits": _limits(self.connected_calls, CALL_LIMITS, now),
                },
            ],
        }


def _in_window(times: list[float], seconds: int, now: float) -> list[float]:
    return [t for t in times if now - t < seconds]


def _blocked_until(times: list[float], limits: tuple[tuple[str, int, int], ...], now: float) -> int | None:
    """When the first exhausted limit frees a slot, or None when every limit has room."""
    until = [
        int(min(recent) + seconds)
        for _, seconds, allowed in limits
        if len(recent := _in_window(times, seconds, now)) >= allowed
    ]
    return max(until) if until else None


def _limits(times: list[float], limits: tuple[tuple[str, int, int], ...], now: float) -> list[dict[str, Any]]:
    out = []
    for period, seconds, allowed in limits:
        recent = _in_window(times, seconds, now)
        limit: dict[str, Any] = {"time_period": period, "max_allowed": allowed, "current_usage": len(recent)}
        if len(recent) >= allowed:  # Meta: present only once the usage has reached the maximum
            limit["limit_expiration_time"] = int(min(recent) + seconds)
        out.append(limit)
    return out
