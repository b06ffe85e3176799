"""``GET|POST /whatsapp/webhook``: Meta's webhook. The handshake, then signed deliveries routed to the sessions
of the numbers they speak for. What a delivery means is the connector's business (connectors/cloud/intake.py)."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from callbridge.api.deps import Calls, ConnectorsDep, PermissionsDep, Sessions
from callbridge.connectors.cloud import intake
from callbridge.connectors.events import PermissionReply

log = logging.getLogger(__name__)
router = APIRouter(tags=["whatsapp"])


@router.get("/whatsapp/webhook", response_class=PlainTextResponse, summary="Meta's subscription handshake")
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


@router.post("/whatsapp/webhook", response_class=PlainTextResponse, summary="Meta's call and message webhooks")
async def receive(
    request: Request, sessions: Sessions, connectors: ConnectorsDep, calls: Calls, permissions: PermissionsDep
) -> PlainTextResponse:
    body = await request.body()
    try:
        payload = json.loads(body)
    except ValueError:
        return PlainTextResponse("invalid JSON", status_code=400)
    if not isinstance(payload, dict):
        return PlainTextResponse("invalid payload", status_code=400)
    numbers = intake.phone_number_ids(payload)
    if not numbers:
        return PlainTextResponse("no metadata.phone_number_id in payload", status_code=400)
    bound = []
    for pnid in sorted(numbers):
        session = await sessions.by_phone_number_id(pnid)
        if session is None:
            return PlainTextResponse(f"no session for phone_number_id {pnid}", status_code=404)
        bound.append((session, connectors.for_session(session)))
    if not all(connector.verify(body, request.headers) for _, connector in bound):
        log.warning("Meta webhook with a bad signature ignored", extra={"numbers": sorted(numbers)})
        return PlainTextResponse("invalid signature", status_code=401)
    for session, connector in bound:
        for event in connector.receive(payload):
            if isinstance(event, PermissionReply):
                await permissions.answered(session, event)
            else:
                await calls.handle(session, event)
    return PlainTextResponse("ok")
