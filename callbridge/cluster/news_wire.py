"""WhatsApp's news of a call as JSON between nodes: the node that received Meta's delivery hands each call's news
to the node that carries the call."""

from __future__ import annotations

import dataclasses
from typing import Any

from callbridge.connectors.events import (
    CallAnswered,
    CallError,
    CallNews,
    CallProgress,
    CallTerminated,
    IncomingCall,
)
from callbridge.errors import InvalidRequest

KINDS: dict[str, type[CallNews]] = {
    kind.__name__: kind for kind in (IncomingCall, CallAnswered, CallProgress, CallTerminated)
}


def encode(news: CallNews) -> dict[str, Any]:
    return {"kind": type(news).__name__, "fields": dataclasses.asdict(news)}


def decode(data: Any) -> CallNews:
    try:
        kind = KINDS[data["kind"]]
        fields = dict(data["fields"])
        if kind is CallTerminated:
            fields["errors"] = tuple(CallError(e.get("code"), e.get("message")) for e in fields.get("errors") or ())
        return kind(**fields)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"invalid news of a call: {exc}") from exc
