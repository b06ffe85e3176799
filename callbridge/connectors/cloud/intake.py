"""Meta's webhook deliveries, without a web framework: the signature check, which numbers a delivery speaks for,
and the connector events in it. The HTTP route (api/routes/whatsapp.py) only moves bytes in and out."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from callbridge.connectors.cloud.wire import (
    CallStatus,
    Change,
    Contact,
    Entry,
    Envelope,
    Message,
    Metadata,
    WebhookCall,
    WireError,
)
from callbridge.connectors.events import (
    CallAnswered,
    CallError,
    CallProgress,
    CallTerminated,
    ConnectorEvent,
    IncomingCall,
    PermissionReply,
)

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"
M = TypeVar("M", bound=BaseModel)


def signature_valid(app_secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the app secret>``, compared in constant time."""
    header = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected.encode(), header.strip().encode())


MAX_DEPTH = 32  # Meta's deliveries nest 8 deep; a deeper body is not Meta's, and deep ones exhaust the parser


def load(body: bytes) -> Any | None:
    """The delivery's JSON, or None when it is not JSON or nests deeper than Meta ever does."""
    if nesting_depth(body) > MAX_DEPTH:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest, counted without parsing (strings, whose brackets do not count, removed)."""
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def phone_number_ids(payload: Any) -> set[str]:
    """Every business number a delivery speaks for."""
    return {pnid for pnid, _ in _changes(payload)}


def parse(payload: Any, phone_number_id: str) -> list[ConnectorEvent]:
    """The events for one number, in the order Meta listed them; items of the wrong shape are logged and skipped."""
    events: list[ConnectorEvent] = []
    for pnid, change in _changes(payload):
        if pnid != phone_number_id:
            continue
        value = change.value
        if change.field == "calls":
            contacts = _items(Contact, value.get("contacts"))
            names = {c.wa_id: c.profile.name for c in contacts if c.profile is not None}
            # Meta lists a failed call's errors beside the calls, and sometimes in the call object as well.
            shared = _items(WireError, value.get("errors"))
            calls = _items(WebhookCall, value.get("calls"))
            events += [e for call in calls if (e := _call_event(call, names, shared))]
            events += [e for status in _items(CallStatus, value.get("statuses")) if (e := _status_event(status))]
        elif change.field == "messages":
            events += [e for message in _items(Message, value.get("messages")) if (e := _permission_reply(message))]
    return events


def _changes(payload: Any) -> Iterator[tuple[str, Change]]:
    envelope = _validated(Envelope, payload, "delivery")
    if envelope is None:
        return
    for entry in _items(Entry, envelope.entry):
        for change in _items(Change, entry.changes):
            metadata = _validated(Metadata, change.value.get("metadata"), "metadata")
            if metadata is not None:
                yield str(metadata.phone_number_id), change


def _validated(model: type[M], data: Any, what: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        log.info("webhook %s of an unexpected shape skipped: %s", what, exc.errors()[0].get("msg"))
        return None


def _items(model: type[M], data: Any) -> list[M]:
    if not isinstance(data, list):
        return []
    items = (_validated(model, item, model.__name__) for item in data)
    return [item for item in items if item is not None]


def _call_event(call: WebhookCall, names: dict[str, str | None], shared: list[WireError]) -> ConnectorEvent | None:
    if call.event == "connect":
        sdp = call.session.sdp if call.session is not None else None
        if sdp is None:
            log.warning("connect webhook without SDP ignored", extra={"call": call.id})
            return None
        if (call.session and call.session.sdp_type == "answer") or call.direction == "BUSINESS_INITIATED":
            return CallAnswered(call.id, sdp)
        phone = call.from_ or ""
        return IncomingCall(call.id, phone, sdp, names.get(phone))
    if call.event == "terminate":
        return CallTerminated(
            call.id,
            (call.status or "COMPLETED").upper(),
            float(call.duration) if call.duration is not None and call.duration >= 0 else None,
            tuple(dict.fromkeys(CallError(e.code, e.message) for e in [*_items(WireError, call.errors), *shared])),
        )
    log.info("call webhook event %r ignored", call.event, extra={"call": call.id})
    return None


def _status_event(status: CallStatus) -> ConnectorEvent | None:
    if status.type != "call":
        return None  # message delivery statuses share this list
    return CallProgress(status.id, status.status.upper())


def _permission_reply(message: Message) -> ConnectorEvent | None:
    interactive = message.interactive
    if interactive is None or interactive.type != "call_permission_reply":
        return None
    reply = interactive.call_permission_reply
    if reply is None:
        return None
    return PermissionReply(
        message.from_,
        reply.response,
        reply.expiration_timestamp,
        reply.is_permanent,
        reply.response_source,
        message.context.id if message.context is not None else None,
    )


def subscription_confirmed(mode: str, verify_token: str, known_tokens: list[str]) -> bool:
    """Meta's ``hub.mode=subscribe`` handshake: the token must be one of ours. Every candidate is compared, so
    timing does not tell which one matched."""
    matched = False
    for candidate in known_tokens:
        matched |= bool(candidate) and hmac.compare_digest(candidate.encode(), verify_token.encode())
    return mode == "subscribe" and matched
