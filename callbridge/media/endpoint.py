"""Something attached to a call that hears and/or speaks: a browser today, a native RTP app or a bot stream next.

The call's router (media/router.py) only needs what is here: the endpoint's voice (Opus frames out of
``inbound``), a place to send what it hears (``outgoing``), its role, and whether it is still there.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from callbridge.media.inbound import InboundAudio
from callbridge.media.outbound import OutboundAudio

DEFAULT_ID = "default"


class Role(StrEnum):
    TALK = "talk"  # hears the WhatsApp user and everyone; its voice goes to everyone
    LISTEN = "listen"  # hears everything; says nothing anywhere (a supervisor listening in)
    WHISPER = "whisper"  # hears everything; its voice reaches the endpoints, never the WhatsApp user (coaching)

    def permits(self, wanted: Role) -> bool:
        """What a token minted for this role may attach: talk any role, the others only their own."""
        return self is Role.TALK or self is wanted


class Endpoint(ABC):
    kind: ClassVar[str]
    # Seconds without RTP or RTCP from it before it counts as gone; None for kinds that know otherwise (a socket).
    idle_limit: float | None = 10.0

    def __init__(self, endpoint_id: str, role: Role) -> None:
        self.id = endpoint_id
        self.role = role
        self.since = datetime.now(UTC)
        self.attached_at = time.monotonic()
        # Called once when the endpoint goes away by itself (its connection failed, or it fell silent).
        self.on_gone: Callable[[Endpoint, str], Awaitable[None]] | None = None
        self.on_connected: Callable[[Endpoint], None] | None = None

    @property
    @abstractmethod
    def inbound(self) -> InboundAudio:
        """Its voice, as ordered Opus frames."""

    @property
    @abstractmethod
    def outgoing(self) -> OutboundAudio:
        """What it hears."""

    @property
    @abstractmethod
    def state(self) -> str:
        """``connecting``, ``connected`` or ``closed``, as clients see it."""

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def speaks(self) -> bool:
        return self.role is not Role.LISTEN

    def silent_for(self) -> float:
        """Seconds since anything (RTP or RTCP) last came from it, or since it was attached."""
        return time.monotonic() - max(self.attached_at, self.inbound.last_heard)

    @abstractmethod
    async def close(self) -> None: ...

    def key_pressed(self, digit: str, duration_ms: int) -> None:
        """The WhatsApp user pressed a key (bot streams pass it on; others ignore it)."""
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "role": self.role.value,
            "state": self.state,
            "inbound": {**self.inbound.buffer.stats.as_dict(), "decoded": self.inbound.decoded},
            "outbound": dict(self.outgoing.counts),
        }


class CarriedEndpoint(Endpoint):
    """An endpoint that carries its audio itself, with no aiortc leg (RTP apps, bot streams): it owns the inbound
    the router takes its voice from and the outbound its own send loop drains."""

    def __init__(self, endpoint_id: str, role: Role, inbound: InboundAudio | None = None) -> None:
        super().__init__(endpoint_id, role)
        self._inbound = inbound if inbound is not None else InboundAudio()
        self._outgoing = OutboundAudio()

    @property
    def inbound(self) -> InboundAudio:
        return self._inbound

    @property
    def outgoing(self) -> OutboundAudio:
        return self._outgoing
