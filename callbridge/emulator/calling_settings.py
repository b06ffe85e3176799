"""A business number's calling settings, Meta's ``calling`` object of ``/{phone-number-id}/settings``.

Shape and rules from Meta's "Configure Call Settings" page (developers.facebook.com/documentation/
business-messaging/whatsapp/calling/call-settings, Mar 2026). Meta lists the update errors (invalid status,
invalid schedule, past holiday, bad timezone, empty weekly hours, more than 2 entries a day, overlaps) without
codes; they are answered with the generic 100 "Invalid parameter".
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from callbridge.emulator.errors import invalid

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_TIME = re.compile(r"^([01]\d|2[0-3])([0-5]\d)$")  # Meta's "HHMM", 24 h
ON_OFF = ("ENABLED", "DISABLED")


@dataclass
class CallingSettings:
    # Meta: calling is off until enabled; the emulator's numbers are registered enabled unless said otherwise.
    status: str = "ENABLED"
    call_icon_visibility: str = "DEFAULT"
    callback_permission_status: str = "ENABLED"
    call_hours: dict[str, Any] = field(default_factory=lambda: {"status": "DISABLED"})
    sip: dict[str, Any] = field(default_factory=lambda: {"status": "DISABLED", "servers": []})
    call_icons: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return self.status == "ENABLED"

    @property
    def sip_enabled(self) -> bool:
        return self.sip.get("status") == "ENABLED"

    @property
    def callback_permission(self) -> bool:
        return self.callback_permission_status == "ENABLED"

    def view(self) -> dict[str, Any]:
        calling: dict[str, Any] = {
            "status": self.status,
            "call_icon_visibility": self.call_icon_visibility,
            "callback_permission_status": self.callback_permission_status,
            "call_hours": self.call_hours,
            "sip": self.sip,
        }
        if self.call_icons is not None:
            calling["call_icons"] = self.call_icons
        return calling

    def update(self, calling: Any, today: dt.date | None = None) -> None:
        """Apply a POST's ``calling`` object: every field optional, each one checked before any is applied."""
        if not isinstance(calling, dict):
            raise invalid("calling must be an object")
        checked: dict[str, Any] = {}
        for name in ("status", "callback_permission_status"):
            if name in calling:
                checked[name] = _one_of(calling[name], ON_OFF, name)
        if "call_icon_visibility" in calling:
            # Meta's reference page spells it "DISABLE ALL" once; the settings page and the API say DISABLE_ALL.
            checked["call_icon_visibility"] = _one_of(
                calling["call_icon_visibility"], ("DEFAULT", "DISABLE_ALL"), "call_icon_visibility"
            )
        if "call_hours" in calling:
            checked["call_hours"] = check_call_hours(calling["call_hours"], today or dt.date.today())
        if "sip" in calling:
            sip = calling["sip"]
            if not isinstance(sip, dict) or "status" not in sip:
                raise invalid("sip must be an object with a status")
            _one_of(sip["status"], ON_OFF, "sip.status")
            checked["sip"] = {"servers": [], **sip}
        if "call_icons" in calling:
            if not isinstance(calling["call_icons"], dict):
                raise invalid("call_icons must be an object")
            checked["call_icons"] = calling["call_icons"]
        for name, value in checked.items():
            setattr(self, name, value)

    def takes_user_calls(self, now: dt.datetime) -> str | None:
        """Why a WhatsApp user cannot call this number now, or None when they can."""
        if not self.enabled:
            return "calling is not enabled on this business number"
        if self.sip_enabled:
            return "this number takes calls over SIP, which the emulator does not emulate"
        if self.call_icon_visibility == "DISABLE_ALL":
            return "the number hides its call button (call_icon_visibility DISABLE_ALL): no unsolicited calls"
        if not open_at(self.call_hours, now):
            return "the business is outside its call hours"
        return None


def _one_of(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise invalid(f"{name} must be one of {', '.join(allowed)}")
    return str(value)


def _minutes(value: Any, name: str) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"{name} must be a time as HHMM, 24 h")
    return int(match.group(1)) * 60 + int(match.group(2))


def check_call_hours(hours: Any, today: dt.date) -> dict[str, Any]:
    if not isinstance(hours, dict):
        raise invalid("call_hours must be an object")
    if _one_of(hours.get("status"), ON_OFF, "call_hours.status") == "DISABLED" and set(hours) == {"status"}:
        return {"status": "DISABLED"}  # open around the clock: nothing else to say (Meta marks the rest required)
    try:
        zoneinfo.ZoneInfo(str(hours.get("timezone_id")))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid("Timezone is invalid in call_hours") from exc
    weekly = hours.get("weekly_operating_hours")
    if not isinstance(weekly, list) or not weekly:
        raise invalid("weekly_operating_hours in call_hours cannot be empty")
    by_day: dict[str, list[tuple[int, int]]] = {}
    for entry in weekly:
        if not isinstance(entry, dict):
            raise invalid("each weekly_operating_hours entry must be an object")
        day = _one_of(entry.get("day_of_week"), DAYS, "day_of_week")
        by_day.setdefault(day, []).append(_window(entry, "open_time", "close_time"))
    for windows in by_day.values():
        if len(windows) > 2:
            raise invalid("More than 2 entries not allowed in weekly_operating_hours schedule in call_hours")
        _no_overlap(windows)
    holidays = hours.get("holiday_schedule", [])
    if not isinstance(holidays, list) or len(holidays) > 20:
        raise invalid("holiday_schedule must be a list of at most 20 entries")
    for entry in holidays:
        try:
            date = dt.date.fromisoformat(str(entry.get("date")) if isinstance(entry, dict) else "")
        except ValueError as exc:
            raise invalid("Date format in holiday_schedule for call_hours is invalid") from exc
        if date < today:
            raise invalid("Holiday given in call_hours is a past date")
        _window(entry, "start_time", "end_time")
    # Meta: a POST without holiday_schedule replaces the existing one with an empty schedule.
    return {**hours, "holiday_schedule": holidays}


def _window(entry: dict[str, Any], start: str, end: str) -> tuple[int, int]:
    opens, closes = _minutes(entry.get(start), start), _minutes(entry.get(end), end)
    if opens >= closes:
        raise invalid(f"Invalid schedule for call_hours: {start} must be before {end}")
    return opens, closes


def _no_overlap(windows: list[tuple[int, int]]) -> None:
    ordered = sorted(windows)
    if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ordered)):
        raise invalid("Overlapping schedule in call_hours is not allowed")


def open_at(hours: dict[str, Any], now: dt.datetime) -> bool:
    """Meta: with call hours disabled the business is open around the clock; otherwise user-initiated calls are
    taken inside the weekly hours only, and not during a holiday's window (read here as closed then)."""
    if hours.get("status") != "ENABLED":
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(hours["timezone_id"]))
    minute = local.hour * 60 + local.minute
    for holiday in hours.get("holiday_schedule", []):
        start, end = _minutes(holiday["start_time"], "start_time"), _minutes(holiday["end_time"], "end_time")
        if holiday["date"] == local.date().isoformat() and start <= minute < end:
            return False
    day = DAYS[local.weekday()]
    return any(
        entry["day_of_week"] == day
        and _minutes(entry["open_time"], "open_time") <= minute < _minutes(entry["close_time"], "close_time")
        for entry in hours["weekly_operating_hours"]
    )
