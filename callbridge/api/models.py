"""Request bodies. Field names match case-insensitively, as Go's encoding/json does for WaGo."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError


class WaGoModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)

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
    subscribe: list[str] = Field(default_factory=lambda: ["All"], alias="Subscribe", max_length=32)
    immediate: bool = Field(False, alias="Immediate")


class WebhookSetRequest(WaGoModel):
    webhook_url: str = Field(alias="WebhookURL", max_length=2048)
    secret: str | None = Field(None, alias="Secret", min_length=16, max_length=200)


class CallIDRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)


class MakeCallRequest(WaGoModel):
    phone: str = Field(alias="Phone", min_length=1, max_length=64)


class PermissionRequest(WaGoModel):
    phone: str = Field(alias="Phone", min_length=1, max_length=64)
    body: str = Field("May we call you on WhatsApp about your request?", alias="Body", min_length=1, max_length=1024)


class WebRTCOfferRequest(WaGoModel):
    call_id: str = Field(alias="callID", min_length=1, max_length=200)
    type: str = Field(description='must be "offer"')
    sdp: str = Field(min_length=1, max_length=64 * 1024, description="complete (non-trickle) SDP offer")


class WebRTCCloseRequest(WaGoModel):
    call_id: str = Field(alias="callID", min_length=1, max_length=200)


class PlayRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    audio_file: str = Field(
        alias="AudioFile", min_length=1, max_length=1024, description=".mp3 .wav .opus or .ogg, under the files dir"
    )


class RecordRequest(WaGoModel):
    call_id: str = Field(alias="CallID", min_length=1, max_length=200)
    path: str | None = Field(
        None, alias="Path", max_length=1024, description=".wav under the files dir; default calls/{CallID}.wav"
    )
    sample_rate: Literal[16000, 48000] = Field(48000, alias="SampleRate")
    stereo: bool = Field(False, alias="Stereo", description="WhatsApp on the left, the browser on the right")
