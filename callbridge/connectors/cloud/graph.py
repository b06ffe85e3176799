"""A small Graph API client for the calling endpoints (httpx)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from callbridge.connectors.cloud.wire import (
    CallsAnswer,
    GraphErrorBody,
    GraphErrorObject,
    MessagesAnswer,
    NumberProfile,
)
from callbridge.metrics.instruments import graph_operation, observe_graph

log = logging.getLogger(__name__)
Answer = TypeVar("Answer", CallsAnswer, MessagesAnswer, NumberProfile)


@dataclass(frozen=True)
class CloudAccount:
    """What the gateway needs to act for one business number on the Cloud API."""

    phone_number_id: str
    access_token: str
    app_secret: str
    verify_token: str
    graph_url: str = "https://graph.facebook.com"
    graph_version: str = "v23.0"
    waba_id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CloudAccount:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class GraphError(Exception):
    """Meta answered with an error object, or could not be reached (``http_status == 0``)."""

    def __init__(
        self,
        http_status: int,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.code = code
        self.subcode = subcode
        self.details = details

    @property
    def unreachable(self) -> bool:
        return self.http_status == 0

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"(code {self.code}{f'/{self.subcode}' if self.subcode else ''})")
        if self.details:
            parts.append(f": {self.details}")
        return " ".join(parts)

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError:
        try:
            error = GraphErrorBody.model_validate_json(response.content).error
        except ValidationError:
            error = GraphErrorObject()
        return cls(
            response.status_code,
            error.message or f"Graph API answered HTTP {response.status_code}",
            code=error.code,
            subcode=error.error_subcode,
            details=error.error_data.details if error.error_data else None,
        )


class GraphClient:
    """The Graph API as seen by one business number. The base URL is the only thing tests change."""

    def __init__(self, account: CloudAccount, http: httpx.AsyncClient) -> None:
        self.account = account
        self.http = http
        self.base = f"{account.graph_url.rstrip('/')}/{account.graph_version}/{account.phone_number_id}"

    async def _request(self, method: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
        """One request, timed for the metrics (with Meta's error code when it fails)."""
        operation = graph_operation(method, path, (kwargs.get("json") or {}).get("action"))
        started = time.perf_counter()
        try:
            body = await self._send(method, path, **kwargs)
        except GraphError as exc:
            code = "unreachable" if exc.unreachable else exc.code or f"http_{exc.http_status}"
            observe_graph(operation, time.perf_counter() - started, code)
            raise
        observe_graph(operation, time.perf_counter() - started)
        return body

    async def _send(self, method: str, path: str = "", **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.account.access_token}"}
        try:
            response = await self.http.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise GraphError(0, f"could not reach the Graph API at {self.account.graph_url}: {exc!r}") from exc
        if response.status_code >= 400:
            raise GraphError.from_response(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphError(response.status_code, "the Graph API answered with something other than JSON") from exc
        return body if isinstance(body, dict) else {}

    async def phone_number(self) -> NumberProfile:
        """The number's profile; a cheap way to check that the credentials work."""
        body = await self._request("GET", params={"fields": "display_phone_number,verified_name"})
        return _read(NumberProfile, body) or NumberProfile()

    async def connect(self, to: str, sdp: str, biz_opaque_callback_data: str | None = None) -> str:
        """Start a business-initiated call with our SDP offer; returns WhatsApp's call id (wacid)."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "to": to,
            "action": "connect",
            "session": {"sdp_type": "offer", "sdp": sdp},
        }
        if biz_opaque_callback_data:
            body["biz_opaque_callback_data"] = biz_opaque_callback_data
        answer = _read(CallsAnswer, await self._request("POST", "/calls", json=body))
        if answer is None or not answer.calls:
            raise GraphError(200, "the Graph API accepted the call but returned no call id")
        return answer.calls[0].id

    async def call_action(
        self, call_id: str, action: str, answer_sdp: str | None = None, biz_opaque_callback_data: str | None = None
    ) -> None:
        """pre_accept, accept (both with our SDP answer; accept may carry our reference), reject or terminate."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "call_id": call_id, "action": action}
        if answer_sdp is not None:
            body["session"] = {"sdp_type": "answer", "sdp": answer_sdp}
        if biz_opaque_callback_data:
            body["biz_opaque_callback_data"] = biz_opaque_callback_data
        await self._request("POST", "/calls", json=body)

    async def request_call_permission(self, to: str, body_text: str) -> str | None:
        """Send the interactive call-permission request message; returns the message id."""
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "call_permission_request",
                "action": {"name": "call_permission_request"},
                "body": {"text": body_text},
            },
        }
        answer = _read(MessagesAnswer, await self._request("POST", "/messages", json=body))
        return answer.messages[0].id if answer is not None and answer.messages else None

    async def calling_settings(self) -> dict[str, Any]:
        """The number's ``calling`` settings (``GET /{phone-number-id}/settings``)."""
        answer = await self._request("GET", "/settings")
        calling = answer.get("calling")
        return calling if isinstance(calling, dict) else {}

    async def update_calling_settings(self, calling: dict[str, Any]) -> None:
        await self._request("POST", "/settings", json={"calling": calling})

    async def call_permissions(self, wa_id: str) -> dict[str, Any]:
        return await self._request("GET", "/call_permissions", params={"user_wa_id": wa_id})


def _read(model: type[Answer], body: dict[str, Any]) -> Answer | None:
    try:
        return model.model_validate(body)
    except ValidationError:
        return None
