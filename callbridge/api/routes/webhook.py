"""/webhook: where the session's events go, and the secret they are signed with."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Sessions, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import WebhookSetRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import WebhookView
from callbridge.errors import InvalidRequest
from callbridge.events.webhook_address import url_refusal
from callbridge.store.models import SessionRow

router = APIRouter(tags=["webhook"])


def _webhook_data(row: SessionRow) -> dict[str, object]:
    return {"webhook": row.webhook_url or "", "subscribe": row.subscribe, "secret": row.webhook_secret or ""}


@router.post(
    "/webhook",
    summary="Set the webhook URL (empty to stop) and, optionally, its signing secret",
    response_model=Envelope[WebhookView],
    responses=errors(400, 401, 408, 413),
)
async def set_webhook(
    body: WebhookSetRequest, session: Session, sessions: Sessions, settings: SettingsDep
) -> JSONResponse:
    url = body.webhook_url
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("WebhookURL must be an absolute http:// or https:// URL")
        # A name is checked again on every delivery, on what it resolves to then (DNS rebinding).
        if why := url_refusal(url, settings.webhook_allow_private):
            raise InvalidRequest(f"WebhookURL refused: {why}")
    # Keep an existing secret unless a new one is given: rotating silently would break the app's checks.
    secret = body.secret or session.webhook_secret or secrets.token_urlsafe(32)
    row = await sessions.update(session.id, webhook_url=url or None, webhook_secret=secret)
    return ok(_webhook_data(row))


@router.get(
    "/webhook",
    summary="The webhook URL, subscribed event classes and signing secret",
    response_model=Envelope[WebhookView],
    responses=errors(401),
)
async def get_webhook(session: Session) -> JSONResponse:
    return ok(_webhook_data(session))
