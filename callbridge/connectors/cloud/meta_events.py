"""Meta's webhook envelope, read into connector events (shared/reference/whatsapp-cloud-calling.md §1.3-1.6)."""

from __future__ import annotations

import logging
from typing import Any

from callbridge.connectors.base import (
    CallAnswered,
    CallProgress,
    CallTerminated,
    ConnectorEvent,
    IncomingCall,
    PermissionReply,
)

log = logging.getLogger(__name__)


def phone_number_ids(payload: dict[str, Any]) -> set[str]:
    """Every business number a delivery speaks for."""
    found = set()
    for _, value in _changes(payload):
        pnid = (value.get("metadata") or {}).get("phone_number_id")
        if isinstance(pnid, str | int):
            found.add(str(pnid))
    return found


def read_events(payload: dict[str, Any]) -> list[tuple[str, ConnectorEvent]]:
    """``(phone_number_id, event)`` pairs, in the order Meta listed them."""
    events: list[tuple[str, ConnectorEvent]] = []
    for field, value in _changes(payload):
        pnid = str((value.get("metadata") or {}).get("phone_number_id", ""))
        if field == "calls":
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name") for c in _dicts(value.get("contacts"))}
            events += [(pnid, e) for call in _dicts(value.get("calls")) if (e := _call_event(call, names))]
            events += [(pnid, e) for status in _dicts(value.get("statuses")) if (e := _status_event(status))]
        elif field == "messages":
            events += [(pnid, e) for message in _dicts(value.get("messages")) if (e := _permission_reply(message))]
    return events


def _changes(payload: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(change.get("field")), change.get("value") or {})
        for entry in _dicts(payload.get("entry"))
        for change in _dicts(entry.get("changes"))
        if isinstance(change.get("value", {}), dict)
    ]


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _call_event(call: dict[str, Any], names: dict[Any, Any]) -> ConnectorEvent | None:
    call_id, event = call.get("id"), call.get("event")
    if not isinstance(call_id, str) or not call_id:
        return None
    session = call.get("session") or {}
    sdp = session.get("sdp") if isinstance(session, dict) else None
    if event == "connect":
        if not isinstance(sdp, str):
            log.warning("connect webhook without SDP ignored", extra={"call": call_id})
            return None
        if session.get("sdp_type") == "answer" or call.get("direction") == "BUSINESS_INITIATED":
            return CallAnswered(call_id, sdp)
        phone = str(call.get("from", ""))
        return IncomingCall(call_id, phone, sdp, names.get(phone))
    if event == "terminate":
        duration = call.get("duration")
        return CallTerminated(
            call_id,
            str(call.get("status", "COMPLETED")).upper(),
            float(duration) if isinstance(duration, int | float | str) and str(duration).isdigit() else None,
            _dicts(call.get("errors")),
        )
    log.info("call webhook event %r ignored", event, extra={"call": call_id})
    return None


def _status_event(status: dict[str, Any]) -> ConnectorEvent | None:
    if status.get("type") != "call" or not isinstance(status.get("id"), str):
        return None  # message delivery statuses share this list
    return CallProgress(status["id"], str(status.get("status", "")).upper())


def _permission_reply(message: dict[str, Any]) -> ConnectorEvent | None:
    interactive = message.get("interactive") or {}
    if not isinstance(interactive, dict) or interactive.get("type") != "call_permission_reply":
        return None
    reply = interactive.get("call_permission_reply") or {}
    expires = reply.get("expiration_timestamp")
    return PermissionReply(
        str(message.get("from", "")),
        str(reply.get("response", "")),
        int(expires) if isinstance(expires, int | str) and str(expires).isdigit() else None,
    )
