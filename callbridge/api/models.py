"""Request bodies. Field names match case-insensitively, as Go's encoding/json does for WaGo."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from callbridge.files import AUDIO_EXTENSIONS, RECORDING_EXTENSIONS
from callbridge.sessions import EVENT_CLASSES

# Rules the server enforces with its own words (calls/phone.py, sessions.py, files.py, the routes), stated in the
# schema only: a pydantic constraint would answer with pydantic's message instead.
_SEP = r"[\s().-]*"
PHONE_PATTERN = rf"^{_SEP}\+?{_SEP}(?:[0-9]{_SEP}){{6,20}}(?:(?::[^@]*)?@.*)?$"
PHONE_DOC = "international format, digits only (separators and a WaGo JID such as 15551234567@s.whatsapp.net allowed)"
WEBHOOK_URL_PATTERN = r"^(https?://[^/?#\s]+([/?#]\S*)?)?$"


def _suffix_pattern(extensions: tuple[str, ...]) -> str:
    """The extensions in any case, spelled out: JSON Schema patterns have no case-insensitive flag."""
    spelled = ("".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in ext.lstrip(".")) for ext in extensions)
    return rf"\.({'|'.join(spelled)})$"


class WaGoModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL's text cannot hold NUL, and no name, token, path or id needs one.
        if isinstance(value, str) and "\x00" in value:
            raise PydanticCustomError("nul_character", "must not contain NUL characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _match_keys_case_insensitively(cls, data: Any) -> Any:
        if isinstance(data, bytes):
            # WaGo reads JSON whatever the Content-Type says (curl -d sends form-urlencoded), and so do we.
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise PydanticCustomError("json_invalid", "invalid JSON") from exc
        if not isinstance(data, dict):
            return data
        canonical: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or name
            canonical[key.lower()] = key
            canonical[name.lower()] = key
        return {canonical.get(k.lower(), k) if isinstance(k, str) else k: v for k, v in data.items()}


class CloudCredentials(WaGoModel):
    """Credentials of a number on Meta's Cloud API (WhatsApp Manager → API setup)."""

    phone_number_id: str = Field(alias="PhoneNumberID", min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    access_token: str = Field(alias="AccessToken", min_length=1, max_length=4096)
    app_secret: str = Field(alias="AppSecret", min_length=1, max_length=512)
    verify_token: str = Field(alias="VerifyToken", min_length=1, max_length=512)
    graph_url: str = Field("https://graph.facebook.com", alias="GraphURL", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    graph_version: str = Field("v23.0", alias="GraphVersion", pattern=r"^v\d+\.\d+$")
    waba_id: str | None = Field(None, alias="WabaID", max_length=64)


class SessionInitRequest(WaGoModel):
    name: str = Field(alias="Name", min_length=1, max_length=200)
    token: str = Field(alias="Token", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    os: str = Field("", alias="Os", max_length=100)
    cloud: CloudCredentials | None = Field(None, alias="Cloud")


class SessionConnectRequest(WaGoModel):
    subscribe: list[str] = Field(
        default_factory=lambda: ["All"],
        alias="Subscribe",
        max_length=32,
        description="event classes, matched case-insensitively; unknown ones are refused",
        json_schema_extra={"items": {"type": "string", "enum": [*EVENT_CLASSES]}},
    )
    immediate: bool = Field(False, alias="Immediate")


class WebhookSetRequest(WaGoModel):
    webhook_url: str = Field(
        alias="WebhookURL",
        max_length=2048,
        description="absolute http:// or https:// URL; empty to stop sending events",
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN},
    )
    secret: str | None = Field(None, alias="Secret", min_length=16, max_length=200)


class CallIDRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)


CALLBACK_DOC = "your own reference for the call (Meta's biz_opaque_callback_data): echoed on the call and its events"


class MakeCallRequest(WaGoModel):
    phone: str = Field(
        alias="Phone", min_length=1, max_length=64, description=PHONE_DOC, json_schema_extra={"pattern": PHONE_PATTERN}
    )
    callback_data: str | None = Field(None, alias="CallbackData", max_length=512, description=CALLBACK_DOC)


class AcceptCallRequest(CallIDRequest):
    callback_data: str | None = Field(None, alias="CallbackData", max_length=512, description=CALLBACK_DOC)


class PermissionRequest(WaGoModel):
    phone: str = Field(
        alias="Phone", min_length=1, max_length=64, description=PHONE_DOC, json_schema_extra={"pattern": PHONE_PATTERN}
    )
    body: str = Field("May we call you on WhatsApp about your request?", alias="Body", min_length=1, max_length=1024)


ENDPOINT_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"
ENDPOINT_DOC = 'your name for the endpoint (default "default"); an offer for an existing one replaces it (a reload)'
ROLES: list[Any] = ["talk", "listen", "whisper"]
ROLE_DOC = "talk: heard by everyone; listen: hears everything, says nothing; whisper: heard by the endpoints only"


def _endpoint_id(alias: str) -> Any:
    return Field("default", alias=alias, description=ENDPOINT_DOC, pattern=ENDPOINT_ID_PATTERN)


def _role(alias: str) -> Any:
    return Field("talk", alias=alias, max_length=32, description=ROLE_DOC, json_schema_extra={"enum": ROLES})


class WebRTCOfferRequest(WaGoModel):
    call_id: str = Field(alias="callID", min_length=1, max_length=200)
    type: str = Field(description='must be "offer"', json_schema_extra={"enum": ["offer"]})
    sdp: str = Field(min_length=1, max_length=64 * 1024, description="complete (non-trickle) SDP offer")
    endpoint_id: str = _endpoint_id("endpointID")
    role: str = _role("role")


class WebRTCCloseRequest(WaGoModel):
    call_id: str = Field(alias="callID", min_length=1, max_length=200)
    endpoint_id: str = _endpoint_id("endpointID")


class CallTokenRequest(CallIDRequest):
    role: str = _role("Role")


_AUDIO_FILE_DOC = ".mp3 .wav .opus or .ogg, relative to the files dir"


def _audio_file(alias: str, default: Any = ..., doc: str = _AUDIO_FILE_DOC) -> Any:
    return Field(
        default,
        alias=alias,
        max_length=1024,
        description=doc,
        json_schema_extra={"pattern": _suffix_pattern(AUDIO_EXTENSIONS)},
    )


class PlayRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    audio_file: str = Field(
        alias="AudioFile",
        min_length=1,
        max_length=1024,
        description=_AUDIO_FILE_DOC,
        json_schema_extra={"pattern": _suffix_pattern(AUDIO_EXTENSIONS)},
    )
    to: str = Field(
        "all",
        alias="To",
        max_length=32,
        description="all: the WhatsApp user and every endpoint; whatsapp: the WhatsApp user only (hold music)",
        json_schema_extra={"enum": ["all", "whatsapp"]},
    )


class TransferRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    hold_audio: str | None = _audio_file(
        "HoldAudio", None, "played to the WhatsApp user on a loop until the next talker"
    )


class HoldRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    on: bool = Field(alias="On", description="true holds the call, false takes it off hold")
    hold_audio: str | None = _audio_file("HoldAudio", None, "played to the WhatsApp user on a loop while held")


class RecordRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    path: str | None = Field(
        None,
        alias="Path",
        max_length=1024,
        description=".wav relative to the files dir; default calls/{CallID}.wav",
        json_schema_extra={"pattern": _suffix_pattern(RECORDING_EXTENSIONS)},
    )
    sample_rate: Literal[16000, 48000] = Field(48000, alias="SampleRate")
    stereo: bool = Field(
        False, alias="Stereo", description="the WhatsApp user on the left, the talkers and whisperers on the right"
    )
    announce: str | None = Field(
        None,
        alias="Announce",
        max_length=1024,
        description="a consent notice (file under the files dir) everyone hears first; the recording starts when it"
        ' ends. Default: CALLBRIDGE_RECORDING_ANNOUNCEMENT; "" for none',
        json_schema_extra={"pattern": "^$|" + _suffix_pattern(AUDIO_EXTENSIONS)},
    )


class CallingSettingsRequest(WaGoModel):
    """What to change in the number's calling settings (Meta's ``calling`` object); the rest stays as it is."""

    status: Literal["ENABLED", "DISABLED"] | None = Field(None, alias="Status", description="calling on the number")
    call_icon_visibility: Literal["DEFAULT", "DISABLE_ALL"] | None = Field(
        None, alias="CallIconVisibility", description="the call button in the chat"
    )
    callback_permission_status: Literal["ENABLED", "DISABLED"] | None = Field(
        None, alias="CallbackPermissionStatus", description="a user who calls grants a temporary call permission"
    )
    call_hours: dict[str, Any] | None = Field(
        None, alias="CallHours", description="Meta's call_hours object (status, timezone_id, weekly_operating_hours...)"
    )

    def calling(self) -> dict[str, Any]:
        """Meta's ``calling`` object with only what was given."""
        return self.model_dump(exclude_none=True)


# ---- voice-bot streams (Twilio Media Streams) ----------------------------------------------------------------------

STREAM_FORMATS: list[Any] = ["twilio", "l16-16k", "l16-24k"]
STREAM_TRACKS: list[Any] = ["inbound", "both"]
STREAM_URL_PATTERN = r"^[Ww][Ss][Ss]?://[^/?#\s]+([/?#]\S*)?$"
MAX_STREAM_ENTRIES = 32


class StreamTarget(WaGoModel):
    """The bot a stream connects to: what /call/stream and /call/autoanswer both take."""

    url: str = Field(
        alias="URL",
        min_length=1,
        max_length=2048,
        description="the bot's WebSocket (ws:// or wss://); the gateway connects to it after answering",
        json_schema_extra={"pattern": STREAM_URL_PATTERN},
    )
    format: str = Field(
        "twilio",
        alias="Format",
        max_length=32,
        description="twilio: audio/x-mulaw 8 kHz, as Twilio sends; l16-16k, l16-24k: 16-bit little-endian PCM",
        json_schema_extra={"enum": STREAM_FORMATS},
    )
    custom_parameters: dict[str, str] = Field(
        default_factory=dict,
        alias="CustomParameters",
        description="sent to the bot in start.customParameters (at most 32, names up to 128 and values up to 1024"
        " characters)",
        json_schema_extra={"maxProperties": MAX_STREAM_ENTRIES},
    )


class StreamRequest(StreamTarget):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    role: str = _role("Role")
    tracks: str = Field(
        "inbound",
        alias="Tracks",
        max_length=32,
        description="inbound: what the bot hears (the WhatsApp user and whoever its role lets it hear), as media on"
        ' track "inbound"; both: also what the bot is playing into the call, on track "outbound"',
        json_schema_extra={"enum": STREAM_TRACKS},
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        alias="Headers",
        description="sent on the WebSocket handshake, e.g. Authorization (at most 32; values up to 1024 characters)",
        json_schema_extra={"maxProperties": MAX_STREAM_ENTRIES},
    )


class StreamStopRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    stream_id: str = Field(alias="StreamID", min_length=1, max_length=64)


# ---- native RTP endpoints -------------------------------------------------------------------------------------------

RTP_CODECS: list[Any] = ["opus", "pcmu", "pcma"]


class RtpRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    endpoint_id: str = Field(
        "rtp",
        alias="EndpointID",
        description='your name for the endpoint (default "rtp"); a request for an attached one replaces it',
        pattern=ENDPOINT_ID_PATTERN,
    )
    role: str = _role("Role")
    codec: str = Field(
        "opus",
        alias="Codec",
        max_length=32,
        description="opus: passed through untouched; pcmu, pcma: G.711 at 8 kHz, transcoded by the gateway",
        json_schema_extra={"enum": RTP_CODECS},
    )
    remote_address: str | None = Field(
        None,
        alias="RemoteAddress",
        max_length=64,
        description="ip:port (or [ipv6]:port) where the app receives: media goes there from the start and is"
        " accepted from any port of that host; without it the gateway answers the first valid packet's source",
    )
    srtp: bool = Field(False, alias="SRTP", description="SRTP (AES_CM_128_HMAC_SHA1_80, SDES) with the key returned")


class RtpCloseRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    endpoint_id: str = Field("rtp", alias="EndpointID", description='default "rtp"', pattern=ENDPOINT_ID_PATTERN)


class AutoAnswerRequest(WaGoModel):
    enabled: bool = Field(alias="Enabled", description="answer incoming calls at once and hand them to Stream")
    stream: StreamTarget | None = Field(None, alias="Stream", description="required when Enabled")
    announce: str | None = Field(
        None,
        alias="Announce",
        max_length=1024,
        description="a file under the files dir played to the caller (and the bot) when the call is answered",
        json_schema_extra={"pattern": "^$|" + _suffix_pattern(AUDIO_EXTENSIONS)},
    )
