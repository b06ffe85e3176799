"""What the routes answer, for the OpenAPI schema only: the routes build their answers themselves (views.py,
events/views.py), so these models document them and validate nothing. Fields not listed may be added.
Fields that are left out rather than null when they do not apply are NotRequired keys of a TypedDict."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads typing's only from Python 3.12


class Details(BaseModel):
    details: str


class SessionCreated(BaseModel):
    details: str
    name: str
    token: str
    osName: str


class SessionConnected(BaseModel):
    details: str
    jid: str = Field(description="the number's JID once the credentials are verified, else empty")
    events: str = Field(description="subscribed event classes, comma separated")
    webhook: str


class SessionStatus(BaseModel):
    Connected: bool = Field(description="handling calls and events")
    LoggedIn: bool = Field(description="the Cloud credentials are verified")
    Jid: str
    Events: list[str]


class CloudView(BaseModel):
    PhoneNumberID: str | None
    AccessToken: str | None = Field(description="masked")
    AppSecret: str | None = Field(description="masked")
    VerifyToken: str | None = Field(description="masked")
    GraphURL: str | None
    GraphVersion: str | None
    WabaID: str | None


class SessionView(BaseModel):
    id: int
    name: str
    token: str = Field(description="masked")
    osName: str
    connected: bool
    loggedIn: bool
    jid: str
    events: list[str]
    webhook: str
    cloud: CloudView | None
    createdAt: str


class WebhookView(BaseModel):
    webhook: str = Field(description="empty when no webhook is set")
    subscribe: list[str]
    secret: str = Field(description="HMAC-SHA256 key of X-Callbridge-Signature")


class TrackView(TypedDict):
    PlayerID: str
    AudioFile: str
    Seconds: float
    Queued: int


class RecordingView(TypedDict):
    Path: str
    SampleRate: int
    Stereo: bool
    StartedAt: str


class EndpointView(TypedDict):
    EndpointID: str
    Kind: Literal["webrtc", "rtp", "stream"]
    Role: Literal["talk", "listen", "whisper"]
    State: Literal["connecting", "connected", "closed"]
    Since: str


class QualityView(TypedDict):
    """How the WhatsApp user's audio arrived over the call, from the WhatsApp leg's final figures: frames lost
    (given up on after the jitter buffer's loss timeout) in percent, the 95th percentile of RFC 3550's
    interarrival jitter in ms, and frames that came after their place was given up."""

    LossPercent: float
    JitterP95Ms: float
    LateFrames: int


class CallView(TypedDict):
    """The Call object; the optional keys appear once they apply (Name: the user's profile name, when WhatsApp
    gives it; Duration in seconds, once ended; Quality once ended, when audio came from WhatsApp)."""

    CallID: str
    Phone: str
    Direction: Literal["incoming", "outgoing"]
    State: Literal["ringing", "active", "ended"]
    StartedAt: str
    Browser: Literal["connected", "none"]
    Endpoints: list[EndpointView]
    Held: NotRequired[bool]
    Transferring: NotRequired[bool]
    Announcing: NotRequired[bool]
    Name: NotRequired[str]
    CallbackData: NotRequired[str]
    Node: NotRequired[str]
    AnsweredAt: NotRequired[str]
    EndedAt: NotRequired[str]
    EndReason: NotRequired[str]
    Duration: NotRequired[float]
    Quality: NotRequired[QualityView]
    Warnings: NotRequired[list[str]]
    Recording: NotRequired[RecordingView]
    Playing: NotRequired[TrackView]


class OneCall(BaseModel):
    call: CallView


class CallOrCalls(TypedDict):
    """``call`` with ?CallID=, ``calls`` without."""

    call: NotRequired[CallView]
    calls: NotRequired[list[CallView]]


class PermissionSent(BaseModel):
    details: str
    Phone: str
    MessageID: str


class CallToken(BaseModel):
    token: str
    expiresAt: int = Field(description="Unix time")
    CallID: str
    Role: Literal["talk", "listen", "whisper"] = Field(
        description="what it may attach: talk any role, others their own"
    )


class Transferred(CallToken):
    Detached: list[str] = Field(description="the talkers' endpoint ids that were detached")


class Held(BaseModel):
    CallID: str
    Held: bool


class TurnState(BaseModel):
    enabled: bool
    status: Literal["configured", "disabled"]


class IceServer(TypedDict):
    urls: list[str]
    username: NotRequired[str]
    credential: NotRequired[str]


class WebRTCConfig(BaseModel):
    iceServers: list[IceServer]
    turn: TurnState


class WebRTCAnswer(BaseModel):
    callID: str
    type: Literal["answer"]
    sdp: str
    turn: TurnState
    endpointID: str
    role: Literal["talk", "listen", "whisper"]


class WebRTCClosed(BaseModel):
    callID: str
    closed: bool
    endpointID: str


class Playing(BaseModel):
    PlayerID: str
    Seconds: float
    Queued: int = Field(description="files queued ahead of this one")


class Recording(BaseModel):
    Path: str
    SampleRate: Literal[16000, 48000]
    Stereo: bool
    Announce: str | None = Field(None, description="the consent notice playing first; the recording starts after it")


class RecordingDone(BaseModel):
    Path: str
    Seconds: float


class MediaStats(BaseModel):
    CallID: str
    legs: dict[str, Any] = Field(description="the WhatsApp leg, and the default endpoint as browser")
    endpoints: dict[str, Any] = Field(description="per endpoint: frames forwarded untouched, decoded, encoded")
    mixes: list[dict[str, Any]] = Field(description="mixes being made: their sources, destinations, frames encoded")


class OutboxEvents(BaseModel):
    events: list[dict[str, Any]]


class TurnCheck(BaseModel):
    status: Literal["disabled", "ok", "failed"]
    detail: str
    checkedAt: float | None


class Runtime(BaseModel):
    """What the process holds; a leak shows in these (``make soak`` watches them)."""

    rssMb: float | None
    openFiles: int | None
    tasks: int
    peerConnections: int


class NodeView(BaseModel):
    ID: str
    URL: str
    State: Literal["active", "draining"]
    Calls: int
    MaxCalls: int = Field(description="0: no limit")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: Literal["ok"]
    turn: TurnCheck
    calls: int
    Node: str = Field(description="this node's id (CALLBRIDGE_NODE_ID)")
    Nodes: list[NodeView] | None = Field(None, description="the cluster's live nodes, when several share the database")
    loopLagMs: dict[str, float]
    mediaPath: Literal["aiortc", "lean"] = Field(
        description="how this process moves media packets (CALLBRIDGE_MEDIA_PATH)"
    )
    eventLoop: str = Field(description="the event loop's implementation: asyncio or uvloop (CALLBRIDGE_EVENT_LOOP)")
    runtime: Runtime


class StreamStarted(BaseModel):
    CallID: str
    StreamID: str = Field(description="Twilio's streamSid, also the stream's EndpointID on the call")
    Role: Literal["talk", "listen", "whisper"]
    Format: Literal["twilio", "l16-16k", "l16-24k"]
    Tracks: Literal["inbound", "both"]


class StreamStopped(BaseModel):
    CallID: str
    StreamID: str


class RtpKey(BaseModel):
    Suite: Literal["AES_CM_128_HMAC_SHA1_80"]
    Key: str = Field(description="base64 of the 30-byte master key and salt, as a=crypto's inline: carries it")


class RtpOpened(BaseModel):
    EndpointID: str
    LocalAddress: str = Field(description="ip:port the app sends RTP to (RTCP to the port above)")
    Codec: Literal["opus", "pcmu", "pcma"]
    PayloadType: int
    SampleRate: int
    Ptime: int
    SDP: str = Field(description="the stream as the app receives it: ffmpeg -i stream.sdp plays it as it is")
    SRTP: RtpKey | None = None


class RtpClosed(BaseModel):
    CallID: str
    EndpointID: str
    Closed: bool


class AutoAnswerStreamView(BaseModel):
    URL: str
    Format: Literal["twilio", "l16-16k", "l16-24k"]
    CustomParameters: dict[str, str]


class AutoAnswerView(BaseModel):
    Enabled: bool
    Stream: AutoAnswerStreamView | None
    Announce: str | None


class FileView(TypedDict):
    """A file under the files directory; a recording also names its call."""

    Name: str
    Size: int
    Modified: str
    Seconds: NotRequired[float]
    CallID: NotRequired[str]
    Incomplete: NotRequired[bool]


class FileList(BaseModel):
    files: list[FileView]


class FileDeleted(BaseModel):
    Name: str
    Recording: bool = Field(description="it was a recording: its record went with it")
