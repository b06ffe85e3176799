"""A call as the gateway tracks it: its record, plus the live media it owns while it lasts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from callbridge.media.call_media import CallMedia
from callbridge.media.events import MediaStatus
from callbridge.media.whatsapp_leg import WhatsAppLeg
from callbridge.store.models import CallRow
from callbridge.store.types import utcnow


class State(StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class Direction(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


@dataclass(frozen=True)
class CallSnapshot:
    id: str
    session_id: int
    phone: str
    direction: Direction
    state: State
    contact_name: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    duration: float | None
    callback_data: str | None
    node_id: str | None
    media: MediaStatus | None  # while the call is live and has media
    quality: dict[str, Any] | None = None  # once ended: the WhatsApp leg's LossPercent, JitterP95Ms, LateFrames

    @property
    def live(self) -> bool:
        return self.state is not State.ENDED


@dataclass(eq=False)
class Call:
    id: str
    session_id: int
    phone: str
    direction: Direction
    state: State = State.RINGING
    contact_name: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    duration: float | None = None
    callback_data: str | None = None  # the app's reference for the call, sent to Meta (biz_opaque_callback_data)
    node_id: str | None = None  # the node carrying its media
    quality: dict[str, Any] | None = None  # set once ended, from the WhatsApp leg's final figures

    # Live only, never stored.
    offer_sdp: str | None = None
    leg: WhatsAppLeg | None = None
    media: CallMedia | None = None
    answer_applied: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one state transition at a time
    store_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one write of the record at a time
    timer: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        return self.state is not State.ENDED

    def snapshot(self) -> CallSnapshot:
        """The call as clients see it now; events carry one, so they show the call as it was when they happened."""
        return CallSnapshot(
            id=self.id,
            session_id=self.session_id,
            phone=self.phone,
            direction=self.direction,
            state=self.state,
            contact_name=self.contact_name,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            duration=self.duration,
            callback_data=self.callback_data,
            node_id=self.node_id,
            media=self.media.status() if self.media is not None and self.live else None,
            quality=self.final_quality(),
        )

    def final_quality(self) -> dict[str, Any] | None:
        """Once the call has ended, how its WhatsApp leg's audio arrived (None if no audio ever came)."""
        if self.quality is None and self.state is State.ENDED and self.media is not None:
            summary = self.media.whatsapp_summary()
            if summary.carried_rtp:
                self.quality = {
                    "LossPercent": round(summary.loss_percent, 2),
                    "JitterP95Ms": round(summary.jitter_p95_ms, 2),
                    "LateFrames": summary.late,
                }
        return self.quality

    def row_values(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "phone": self.phone,
            "contact_name": self.contact_name,
            "direction": self.direction.value,
            "state": self.state.value,
            "started_at": self.started_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "duration": self.duration,
            "callback_data": self.callback_data,
            "node_id": self.node_id,
            "quality": self.final_quality(),
        }

    @classmethod
    def from_row(cls, row: CallRow) -> Call:
        return cls(
            id=row.id,
            session_id=row.session_id or 0,
            phone=row.phone,
            direction=Direction(row.direction),
            state=State(row.state),
            contact_name=row.contact_name,
            started_at=row.started_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            duration=row.duration,
            callback_data=row.callback_data,
            node_id=row.node_id,
            quality=row.quality,
        )
