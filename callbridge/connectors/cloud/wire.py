"""Meta's payloads as typed models: lenient to fields Meta adds (``extra="ignore"``), strict on the types of the
fields we read. Webhook lists are validated item by item, so one odd item is skipped, not the whole delivery.
(shared/reference/whatsapp-cloud-calling.md §1.3-1.6 for the webhooks; Meta's Graph API error object.)"""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

log = logging.getLogger(__name__)
T = TypeVar("T")


class MetaModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _none_when_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        log.info("webhook field of an unexpected type skipped: %s", exc.errors()[0].get("msg"))
        return None


# A field we can do without: a value of the wrong type is dropped (logged), and the rest of the item still counts.
Droppable = Annotated[T | None, WrapValidator(_none_when_invalid)]


# ---- webhooks --------------------------------------------------------------------------------------------------


class Metadata(MetaModel):
    phone_number_id: str | int
    display_phone_number: Droppable[str] = None


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
    profile: Droppable[Profile] = None


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
    to: Droppable[str] = None
    direction: Droppable[str] = None
    session: Droppable[CallSession] = None
    status: Droppable[str] = None
    duration: Droppable[Annotated[int, Field(ge=0, le=10**7)]] = None  # seconds
    errors: list[Any] = []  # WireError items, read one by one


class CallStatus(MetaModel):
    """One item of ``value.statuses``; message delivery statuses share the list (``type`` tells)."""

    id: str = Field(min_length=1)
    type: str | None = None
    status: str = ""


class PermissionReplyBody(MetaModel):
    response: str = ""
    is_permanent: Droppable[bool] = None
    expiration_timestamp: Droppable[int] = None
    response_source: Droppable[str] = None


class Interactive(MetaModel):
    type: str
    call_permission_reply: Droppable[PermissionReplyBody] = None


class MessageContext(MetaModel):
    id: Droppable[str] = None  # the message this one answers


class Message(MetaModel):
    from_: str = Field("", alias="from")
    type: Droppable[str] = None
    interactive: Droppable[Interactive] = None
    context: Droppable[MessageContext] = None


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
