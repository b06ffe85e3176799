"""What the call layer tells the app: typed events, each carrying the call as it was when it happened.

events/views.py renders them in WaGo's wire format; nothing in calls/ knows that format.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbridge.calls.model import CallSnapshot
from callbridge.connectors.events import PermissionReply
from callbridge.media.events import MediaEvent


@dataclass(frozen=True)
class CallOffered:
    """An incoming call rings."""

    call: CallSnapshot


@dataclass(frozen=True)
class CallAccepted:
    call: CallSnapshot


@dataclass(frozen=True)
class CallEnded:
    call: CallSnapshot
    reason: str


@dataclass(frozen=True)
class CallStateChanged:
    call: CallSnapshot
    state: str  # ringing, active, ended


@dataclass(frozen=True)
class CallMediaChanged:
    """Browser, playback, recording and media-quality news."""

    call: CallSnapshot
    event: MediaEvent


@dataclass(frozen=True)
class PermissionAnswered:
    """A user answered a call-permission request (belongs to the session, not to a call)."""

    reply: PermissionReply


CallEvent = CallOffered | CallAccepted | CallEnded | CallStateChanged | CallMediaChanged
AppEvent = CallEvent | PermissionAnswered
