"""Twilio Media Streams messages (https://www.twilio.com/docs/voice/media-streams/websocket-messages), with
Twilio's field names, nesting and order, so that bots written for Twilio (Pipecat's Twilio serializer, the
realtime-speech samples) run unchanged.

Sent: ``connected``, ``start``, ``media`` (20 ms each), ``dtmf``, ``mark`` (echoes), ``stop``. Every message after
``connected`` carries ``sequenceNumber`` (a string counting from "1") and ``streamSid``. Taken: ``media`` (any length,
only ``media.payload`` is read), ``mark`` and ``clear``; ``streamSid`` on incoming messages is not checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from callbridge.media.stream_codec import AudioFormat

TRACKS = {"inbound": ["inbound"], "both": ["inbound", "outbound"]}
MAX_MARK_NAME = 256


def new_stream_sid() -> str:
    return "MZ" + secrets.token_hex(16)


def connected() -> dict[str, Any]:
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


@dataclass(frozen=True)
class StreamInfo:
    account_sid: str
    stream_sid: str
    call_sid: str
    tracks: list[str]
    fmt: AudioFormat
    custom_parameters: dict[str, str]


def start(seq: int, info: StreamInfo) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": str(seq),
        "start": {
            "accountSid": info.account_sid,
            "streamSid": info.stream_sid,
            "callSid": info.call_sid,
            "tracks": list(info.tracks),
            "mediaFormat": {"encoding": info.fmt.encoding, "sampleRate": info.fmt.rate, "channels": 1},
            "customParameters": dict(info.custom_parameters),
        },
        "streamSid": info.stream_sid,
    }


def media(seq: int, stream_sid: str, track: str, chunk: int, timestamp_ms: int, payload: bytes) -> dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": str(seq),
        "media": {
            "track": track,
            "chunk": str(chunk),
            "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(payload).decode("ascii"),
        },
        "streamSid": stream_sid,
    }


def dtmf(seq: int, stream_sid: str, digit: str) -> dict[str, Any]:
    return {
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": str(seq),
        "dtmf": {"track": "inbound_track", "digit": digit},
    }


def mark(seq: int, stream_sid: str, name: str) -> dict[str, Any]:
    return {"event": "mark", "sequenceNumber": str(seq), "streamSid": stream_sid, "mark": {"name": name}}


def stop(seq: int, info: StreamInfo) -> dict[str, Any]:
    return {
        "event": "stop",
        "sequenceNumber": str(seq),
        "streamSid": info.stream_sid,
        "stop": {"accountSid": info.account_sid, "callSid": info.call_sid},
    }


# ---- from the bot --------------------------------------------------------------------------------------------------


class BadMessage(ValueError):
    """A message from the bot that cannot be used; ``kind`` names its counter."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class Media:
    payload: bytes


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Clear:
    pass


Incoming = Media | Mark | Clear


def parse(raw: str | bytes) -> Incoming:
    """One message from the bot, or :class:`BadMessage` saying why it is of no use."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage("bad_json", f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadMessage("bad_json", "not a JSON object")
    event = message.get("event")
    if event == "media":
        body = message.get("media")
        payload = body.get("payload") if isinstance(body, dict) else None
        if not isinstance(payload, str):
            raise BadMessage("bad_media", "media without media.payload")
        try:
            return Media(base64.b64decode(payload, validate=True))
        except (binascii.Error, ValueError):
            raise BadMessage("bad_base64", "media.payload is not base64") from None
    if event == "mark":
        body = message.get("mark")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or len(name) > MAX_MARK_NAME:
            raise BadMessage("bad_mark", f"mark without a mark.name (a string of at most {MAX_MARK_NAME} characters)")
        return Mark(name)
    if event == "clear":
        return Clear()
    raise BadMessage("unknown_event", f"unknown event {str(event)[:32]!r}")
