"""``GET|POST /whatsapp/webhook``: Meta's webhook. The handshake, then signed deliveries routed to the sessions
of the numbers they speak for. What a delivery means is the connector's business (connectors/cloud/intake.py)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from callbridge.api.deps import ConnectorsDep, NewsRoutingDep, PermissionsDep, Sessions
from callbridge.api.openapi import json_errors, plain_text
from callbridge.connectors.cloud import intake
from callbridge.connectors.events import PermissionReply

log = logging.getLogger(__name__)
router = APIRouter(tags=["whatsapp"])


@router.get(
    "/whatsapp/webhook",
    response_class=PlainTextResponse,
    summary="Meta's subscription handshake",
    response_description="hub.challenge, echoed",
    responses={403: plain_text("hub.mode is not subscribe, or no session has that hub.verify_token")},
)
async def verify(
    sessions: Sessions,
    mode: str = Query("", alias="hub.mode"),
    verify_token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> PlainTextResponse:
    known = [(s.cloud or {}).get("verify_token", "") for s in await sessions.list()]
    if not intake.subscription_confirmed(mode, verify_token, known):
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(challenge)


@router.post(
    "/whatsapp/webhook",
    response_class=PlainTextResponse,
    summary="Meta's call and message webhooks",
    response_description="a signed delivery, taken (whatever it holds: Meta would only send it again)",
    responses={
        400: plain_text("signed, but not JSON (or nested deeper than Meta ever does)"),
        401: plain_text("not signed with the AppSecret of a session (X-Hub-Signature-256)"),
        **json_errors(408, 413),
    },
)
async def receive(
    request: Request, sessions: Sessions, connectors: ConnectorsDep, news: NewsRoutingDep, permissions: PermissionsDep
) -> PlainTextResponse:
    body = await request.body()
    # The signature first, over the raw bytes and against every session's app secret (each one checked, so
    # the answer's timing tells nothing): an unsigned request learns nothing, not even which numbers are bound.
    candidates = [(s, connectors.for_session(s)) for s in await sessions.list() if s.cloud]
    signed_by = [(s, c) for s, c in candidates if c.verify(body, request.headers)]
    if not signed_by:
        log.warning("Meta webhook without a valid signature refused")
        return PlainTextResponse("invalid signature", status_code=401)
    payload = intake.load(body)
    if payload is None:
        return PlainTextResponse("invalid JSON", status_code=400)
    for session, connector in signed_by:  # each takes its own number's events only
        for event in connector.receive(payload):
            if isinstance(event, PermissionReply):
                await permissions.answered(session, event)
            else:
                await news.handle(session, connector, event)
        news.release_held(session, connector)
    # Meta retries what is not acknowledged and in the end disables the subscription: a signed delivery we have
    # no use for (another number of the app, a field we do not read) is logged and acknowledged.
    unrouted = intake.phone_number_ids(payload) - {str(s.phone_number_id) for s, _ in signed_by}
    if unrouted:
        log.info("Meta webhook for numbers without a session acknowledged", extra={"numbers": sorted(unrouted)})
    return PlainTextResponse("ok")
