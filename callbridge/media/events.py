"""What a call's media reports as it happens: typed, so that nothing outside media/ parses it back from text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TrackInfo:
    """A file queued or playing."""

    player_id: str
    audio_file: str  # as the client named it, relative to the files directory
    seconds: float


@dataclass(frozen=True)
class RecordingInfo:
    path: str  # as the client named it, relative to the files directory
    sample_rate: int
    stereo: bool
    started_at: datetime


@dataclass(frozen=True)
class EndpointInfo:
    """An endpoint of the call as clients see it."""

    endpoint_id: str
    kind: str  # webrtc, later rtp and stream
    role: str  # talk, listen, whisper
    state: str  # connecting, connected, closed
    since: datetime


@dataclass(frozen=True)
class EndpointAttached:
    """An endpoint's media connected: it hears the call (and, unless it listens, is heard)."""

    endpoint: EndpointInfo


@dataclass(frozen=True)
class EndpointDetached:
    endpoint: EndpointInfo
    reason: str


@dataclass(frozen=True)
class BrowserConnected:
    pass


@dataclass(frozen=True)
class BrowserGone:
    reason: str


@dataclass(frozen=True)
class PlaybackStarted:
    track: TrackInfo


@dataclass(frozen=True)
class PlaybackFinished:
    track: TrackInfo
    stopped: bool  # by the app, rather than at the end of the file


@dataclass(frozen=True)
class RecordingStarted:
    recording: RecordingInfo


@dataclass(frozen=True)
class RecordingFinished:
    recording: RecordingInfo
    seconds: float


@dataclass(frozen=True)
class MediaWarning:
    detail: str


@dataclass(frozen=True)
class KeyPressed:
    """The WhatsApp user pressed a key (RFC 4733), once per press."""

    digit: str
    duration_ms: int


@dataclass(frozen=True)
class HoldChanged:
    """The call was put on hold (``on``) or taken off it."""

    on: bool


MediaEvent = (
    KeyPressed
    | HoldChanged
    | EndpointAttached
    | EndpointDetached
    | BrowserConnected
    | BrowserGone
    | PlaybackStarted
    | PlaybackFinished
    | RecordingStarted
    | RecordingFinished
    | MediaWarning
)


@dataclass(frozen=True)
class PlayingStatus:
    track: TrackInfo
    queued: int  # files waiting behind it
    position: float  # seconds played


@dataclass(frozen=True)
class RecordingStatus:
    recording: RecordingInfo
    elapsed: float


@dataclass(frozen=True)
class MediaStatus:
    """A call's media at one moment, as clients see it."""

    browser_connected: bool
    warnings: tuple[str, ...] = ()
    recording: RecordingStatus | None = None
    playing: PlayingStatus | None = None
    endpoints: tuple[EndpointInfo, ...] = ()
    held: bool = False
    transferring: bool = False
    announcing: bool = False  # a recording waits for its consent announcement to finish
