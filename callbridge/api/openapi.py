"""An OpenAPI schema that tells the truth: WaGo's envelopes, the error statuses each route really returns
(validation errors are 400 in the envelope, never FastAPI's 422), and who must sign in for what."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, Field

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """WaGo's success envelope."""

    code: Literal[200]
    data: T
    success: Literal[True]


class ErrorEnvelope(BaseModel):
    """WaGo's error envelope."""

    code: int = Field(ge=400, le=599, examples=[400])
    error: str = Field(examples=["missing CallID in payload"])
    success: Literal[False]


STATUSES: dict[int, str] = {
    400: "Bad JSON, a missing field, a wrong type or a value the server refuses (`missing CallID in payload`)",
    401: "Missing or wrong token (`invalid token`, `invalid admin token`)",
    403: "WhatsApp does not allow it yet: the user has not granted call permission (POST /call/permission)",
    404: "Unknown call or session",
    408: "The request body did not arrive in time (CALLBRIDGE_BODY_TIMEOUT)",
    409: "Wrong state for this request (e.g. accept on an outgoing call), or already exists",
    413: "Request body larger than the limit (CALLBRIDGE_MAX_BODY_BYTES)",
    429: "WhatsApp's rate limit",
    500: "WhatsApp, media or filesystem failure",
    503: "The database is unreachable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for routes answering JSON: each status in WaGo's error envelope."""
    return {status: {"model": ErrorEnvelope, "description": STATUSES[status]} for status in statuses}


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same for routes whose own answers are not JSON (FastAPI would give a model their media type)."""
    schema = ErrorEnvelope.model_json_schema()
    content = {"application/json": {"schema": schema}}
    return {status: {"description": STATUSES[status], "content": content} for status in statuses}


def plain_text(description: str) -> dict[str, Any]:
    """A ``responses=`` entry for a text/plain answer (Meta's webhook)."""
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


class CallbridgeAPI(FastAPI):
    """FastAPI, with its schema corrected where it cannot know what the server does."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            _tidy(super().openapi())
        return self.openapi_schema or {}


def _tidy(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            # Validation errors are answered with 400 in WaGo's envelope (envelope.py), so 422 never happens.
            operation.get("responses", {}).pop("422", None)
            _admin_and_the_rest(operation)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def _admin_and_the_rest(operation: dict[str, Any]) -> None:
    """FastAPI lists every security dependency as an alternative; the admin token is never one: a route that
    needs it (and names a session, as /session/delete does) needs both."""
    alternatives: list[dict[str, list[str]]] = operation.get("security", [])
    if len(alternatives) < 2 or {"admintoken": []} not in alternatives:
        return
    others = [alt for alt in alternatives if alt != {"admintoken": []}]
    operation["security"] = [{"admintoken": [], **alt} for alt in others]
