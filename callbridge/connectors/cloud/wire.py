"""Meta's payloads as typed models: lenient to fields Meta adds (``extra="ignore"``), strict on the types of the
fields we read. Webhook lists are validated item by item, so one odd item is skipped, not the whole delivery.
(shared/reference/whatsapp-cloud-calling.md §1.3-1.6 for the webhooks; Meta's Graph API error object.)"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MetaModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


# ---- webhooks --------------------------------------------------------------------------------------------------


class Metadata(MetaModel):
    phone_number_id: str | int
    display_phone_number: str | None = None


class Change(MetaModel):
    field: str
    value: dict[str, Any]


class Entry(MetaModel):
    id: str | None = None
    changes: list[Any] = []


class Envelope(MetaModel):
    object: str | None = None
    entry: list[Any] = []


class Profile(MetaModel):
    name: str | None = None


class Contact(MetaModel):
    wa_id: str
    profile: Profile | None = None


class CallSession(MetaModel):
    sdp_type: str | None = None
    sdp: str | None = None


class WireError(MetaModel):
    code: int | None = None
    message: str | None = None
    title: str | None = None


class WebhookCall(MetaModel):
    """One item of ``value.calls``: a connect (with SDP) or a terminate."""

    id: str = Field(min_length=1)
    event: str
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    direction: str | None = None
    session: CallSession | None = None
    status: str | None = None
    duration: int | None = None
    errors: list[WireError] = []


class CallStatus(MetaModel):
    """One item of ``value.statuses``; message delivery statuses share the list (``type`` tells)."""

    id: str = Field(min_length=1)
    type: str | None = None
    status: str = ""


class PermissionReplyBody(MetaModel):
    response: str = ""
    is_permanent: bool | None = None
    expiration_timestamp: int | None = None
    response_source: str | None = None


class Interactive(MetaModel):
    type: str
    call_permission_reply: PermissionReplyBody | None = None


class Message(MetaModel):
    from_: str = Field("", alias="from")
    type: str | None = None
    interactive: Interactive | None = None


# ---- Graph API answers -----------------------------------------------------------------------------------------


class ErrorData(MetaModel):
    details: str | None = None


class GraphErrorObject(MetaModel):
    message: str | None = None
    code: int | None = None
    error_subcode: int | None = None
    error_data: ErrorData | None = None


class GraphErrorBody(MetaModel):
    error: GraphErrorObject


class Ref(MetaModel):
    id: str = Field(min_length=1)


class CallsAnswer(MetaModel):
    """``POST /{pnid}/calls`` with action connect."""

    calls: list[Ref] = []


class MessagesAnswer(MetaModel):
    """``POST /{pnid}/messages``."""

    messages: list[Ref] = []


class NumberProfile(MetaModel):
    """``GET /{pnid}?fields=display_phone_number,verified_name``."""

    display_phone_number: str | None = None
    verified_name: str | None = None
