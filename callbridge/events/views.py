"""Calls and their events in WaGo's wire format (PascalCase): the one place that knows it, for API answers,
webhooks and event streams alike."""

from __future__ import annotations

from typing import Any, assert_never

from callbridge.calls.events import (
    AppEvent,
    CallAccepted,
    CallEnded,
    CallMediaChanged,
    CallOffered,
    CallStateChanged,
    PermissionAnswered,
)
from callbridge.calls.model import CallSnapshot
from callbridge.media.events import (
    BrowserConnected,
    BrowserGone,
    EndpointAttached,
    EndpointDetached,
    EndpointInfo,
    HoldChanged,
    KeyPressed,
    MediaEvent,
    MediaStatus,
    MediaWarning,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
    RecordingInfo,
    RecordingStarted,
    TrackInfo,
)

Wire = dict[str, Any]


def call_view(call: CallSnapshot) -> Wire:
    """The Call object of the API and of events."""
    data: Wire = {
        "CallID": call.id,
        "Phone": call.phone,
        "Direction": call.direction.value,
        "State": call.state.value,
        "StartedAt": call.started_at.isoformat(),
        "Browser": "none",
        "Endpoints": [],
    }
    if call.media is not None:
        data.update(_media_view(call.media))
    if call.contact_name:
        data["Name"] = call.contact_name
    if call.callback_data:
        data["CallbackData"] = call.callback_data
    if call.node_id:
        data["Node"] = call.node_id
    if call.answered_at:
        data["AnsweredAt"] = call.answered_at.isoformat()
    if call.ended_at:
        data["EndedAt"] = call.ended_at.isoformat()
        data["EndReason"] = call.end_reason
        data["Duration"] = call.duration or 0.0
    if call.quality is not None:
        data["Quality"] = dict(call.quality)
    return data


def event_view(event: AppEvent) -> tuple[str, Wire]:
    """``(type, event)`` as WaGo's webhooks carry them."""
    if isinstance(event, CallOffered):
        return "CallOffer", {**call_view(event.call), "From": f"{event.call.phone}@s.whatsapp.net"}
    if isinstance(event, CallAccepted):
        return "CallAccept", call_view(event.call)
    if isinstance(event, CallEnded):
        return "CallTerminate", {**call_view(event.call), "Reason": event.reason}
    if isinstance(event, CallStateChanged):
        return "CallState", {**call_view(event.call), "Event": event.state}
    if isinstance(event, CallMediaChanged) and isinstance(event.event, KeyPressed):
        key = event.event
        return "CallDTMF", {
            "CallID": event.call.id,
            "Phone": event.call.phone,
            "Digit": key.digit,
            "Duration": key.duration_ms,
        }
    if isinstance(event, CallMediaChanged) and isinstance(event.event, EndpointAttached):
        return "EndpointAttached", {**call_view(event.call), "Endpoint": _endpoint(event.event.endpoint)}
    if isinstance(event, CallMediaChanged) and isinstance(event.event, EndpointDetached):
        detached = event.event
        return "EndpointDetached", {
            **call_view(event.call),
            "Endpoint": _endpoint(detached.endpoint),
            "Reason": detached.reason,
        }
    if isinstance(event, CallMediaChanged):
        name, details = media_event_view(event.event)
        return "CallState", {**call_view(event.call), "Event": name, **details}
    if isinstance(event, PermissionAnswered):
        reply = event.reply
        return "CallPermission", {
            "Phone": reply.phone,
            "Response": reply.response,
            "ExpiresAt": reply.expires_at,
            "IsPermanent": reply.is_permanent,
            "ResponseSource": reply.source,
            "ContextID": reply.context_id,
        }
    assert_never(event)


def media_event_view(event: MediaEvent) -> tuple[str, Wire]:
    """The ``Event`` name of a CallState event, and its details."""
    if isinstance(event, BrowserConnected):
        return "browser_connected", {}
    if isinstance(event, BrowserGone):
        return "browser_gone", {"Reason": event.reason}
    if isinstance(event, PlaybackStarted):
        return "playback_started", _track(event.track)
    if isinstance(event, PlaybackFinished):
        return "playback_finished", {**_track(event.track), "Stopped": event.stopped}
    if isinstance(event, RecordingStarted):
        return "recording_started", _recording(event.recording)
    if isinstance(event, RecordingFinished):
        return "recording_finished", {**_recording(event.recording), "Seconds": event.seconds}
    if isinstance(event, MediaWarning):
        return "media_warning", {"Detail": event.detail}
    if isinstance(event, HoldChanged):
        return ("held" if event.on else "resumed"), {}
    if isinstance(event, KeyPressed):  # its own event type (CallDTMF); named here for completeness
        return "dtmf", {"Digit": event.digit, "Duration": event.duration_ms}
    if isinstance(event, EndpointAttached):  # its own event type too
        return "endpoint_attached", _endpoint(event.endpoint)
    if isinstance(event, EndpointDetached):
        return "endpoint_detached", {**_endpoint(event.endpoint), "Reason": event.reason}
    assert_never(event)


def progress_view(status: MediaStatus) -> Wire:
    """How far a recording and a playback have got (the event streams' ``progress``)."""
    data: Wire = {}
    if status.recording is not None:
        data["Recording"] = {"Path": status.recording.recording.path, "Seconds": status.recording.elapsed}
    if status.playing is not None:
        data["Playing"] = {**_track(status.playing.track), "Position": status.playing.position}
    return data


def _media_view(status: MediaStatus) -> Wire:
    data: Wire = {
        "Browser": "connected" if status.browser_connected else "none",
        "Endpoints": [_endpoint(e) for e in status.endpoints],
    }
    if status.held:
        data["Held"] = True
    if status.transferring:
        data["Transferring"] = True
    if status.announcing:
        data["Announcing"] = True
    if status.warnings:
        data["Warnings"] = list(status.warnings)
    if status.recording is not None:
        data["Recording"] = _recording(status.recording.recording)
    if status.playing is not None:
        data["Playing"] = {**_track(status.playing.track), "Queued": status.playing.queued}
    return data


def _endpoint(endpoint: EndpointInfo) -> Wire:
    return {
        "EndpointID": endpoint.endpoint_id,
        "Kind": endpoint.kind,
        "Role": endpoint.role,
        "State": endpoint.state,
        "Since": endpoint.since.isoformat(),
    }


def _track(track: TrackInfo) -> Wire:
    return {"PlayerID": track.player_id, "AudioFile": track.audio_file, "Seconds": track.seconds}


def _recording(recording: RecordingInfo) -> Wire:
    return {
        "Path": recording.path,
        "SampleRate": recording.sample_rate,
        "Stereo": recording.stereo,
        "StartedAt": recording.started_at.isoformat(),
    }
