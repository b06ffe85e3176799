"""Calls' events and closed legs, counted: calls by outcome, setup time, playbacks and recordings, each leg's
loss and jitter when it closes. Fed by the call feed (every event of every call passes there once) and by the
media's leg-closed hook, so nothing on the media path does metric work per packet."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence

from callbridge.calls.events import AppEvent, CallAccepted, CallEnded, CallMediaChanged
from callbridge.calls.model import CallSnapshot
from callbridge.media.events import PlaybackStarted, RecordingFinished, RecordingStarted
from callbridge.media.quality import LegSummary, leg_closed_hooks
from callbridge.metrics.instruments import (
    CALLS_TOTAL,
    LEG_JITTER_MS,
    LEG_LATE_FRAMES,
    LEG_LOSS_PERCENT,
    PLAYBACKS_TOTAL,
    RECORDINGS_TOTAL,
    SETUP_SECONDS,
)

OUTCOMES = ("answered", "rejected", "unanswered", "failed", "interrupted")
# Packets of legs that have closed, by (leg kind, direction): the scrape adds the live legs' to these.
retired_packets: Tally[tuple[str, str]] = Tally()


def observe(events: Sequence[AppEvent]) -> None:
    for event in events:
        if isinstance(event, CallEnded):
            CALLS_TOTAL.labels(event.call.direction.value, outcome(event.call)).inc()
        elif isinstance(event, CallAccepted) and event.call.answered_at is not None:
            seconds = (event.call.answered_at - event.call.started_at).total_seconds()
            SETUP_SECONDS.labels(event.call.direction.value).observe(max(0.0, seconds))
        elif isinstance(event, CallMediaChanged):
            if isinstance(event.event, PlaybackStarted):
                PLAYBACKS_TOTAL.inc()
            elif isinstance(event.event, RecordingStarted):
                RECORDINGS_TOTAL.labels("started").inc()
            elif isinstance(event.event, RecordingFinished):
                RECORDINGS_TOTAL.labels("finished").inc()


def outcome(call: CallSnapshot) -> str:
    """A bounded name for how a call ended (its EndReason is a sentence)."""
    reason = (call.end_reason or "").lower()
    if call.answered_at is not None:
        return "answered"
    if "ring timeout" in reason:
        return "unanswered"
    if "rejected" in reason:
        return "rejected"
    if "failed" in reason or "unusable" in reason or "media connection" in reason:
        return "failed"
    if "gateway" in reason or "node" in reason:
        return "interrupted"
    return "unanswered"


def leg_closed(summary: LegSummary) -> None:
    retired_packets[summary.kind, "in"] += summary.received
    retired_packets[summary.kind, "out"] += summary.sent
    if summary.carried_rtp:
        LEG_LOSS_PERCENT.labels(summary.kind).observe(summary.loss_percent)
        LEG_JITTER_MS.labels(summary.kind).observe(summary.jitter_p95_ms)
        LEG_LATE_FRAMES.labels(summary.kind).inc(summary.late)


if leg_closed not in leg_closed_hooks:
    leg_closed_hooks.append(leg_closed)
for _direction in ("incoming", "outgoing"):
    SETUP_SECONDS.labels(_direction)
    for _outcome in OUTCOMES:
        CALLS_TOTAL.labels(_direction, _outcome)
for _leg in ("whatsapp", "webrtc", "rtp"):
    LEG_LOSS_PERCENT.labels(_leg)
    LEG_JITTER_MS.labels(_leg)
    LEG_LATE_FRAMES.labels(_leg)
