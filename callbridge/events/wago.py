"""WaGo's webhook format: a form with ``token`` and ``jsonData``, signed with the webhook secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

SIGNATURE_HEADER = "X-Callbridge-Signature"

# Which subscription class each event type belongs to.
EVENT_CLASS_OF = {
    "CallOffer": "Call",
    "CallAccept": "Call",
    "CallTerminate": "Call",
    "CallState": "Call",
    "CallPermission": "Call",
    "CallDTMF": "Call",
    "EndpointAttached": "Call",
    "EndpointDetached": "Call",
}


def wants(subscribe: list[str], event_type: str) -> bool:
    return "All" in subscribe or EVENT_CLASS_OF.get(event_type) in subscribe


def form_body(token: str, event_type: str, event: dict[str, Any]) -> bytes:
    json_data = json.dumps({"type": event_type, "event": event}, separators=(",", ":"))
    return urlencode({"token": token, "jsonData": json_data}).encode()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does with the header: recompute and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)
