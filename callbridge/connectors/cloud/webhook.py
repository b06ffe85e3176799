"""``GET|POST /whatsapp/webhook``: Meta's webhook. Verification handshake, signature check, routing by number."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from callbridge.connectors.cloud.meta_events import phone_number_ids, read_events

log = logging.getLogger(__name__)
router = APIRouter(tags=["whatsapp"])


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected.encode(), header.strip().encode())


@router.get("/whatsapp/webhook", response_class=PlainTextResponse, summary="Meta's subscription handshake")
async def verify(
    request: Request,
    mode: str = Query("", alias="hub.mode"),
    verify_token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> PlainTextResponse:
    sessions = await request.app.state.gateway.sessions.list()
    known = [(s.cloud or {}).get("verify_token", "") for s in sessions]
    matched = False
    for candidate in known:  # compare with every session, so timing does not tell which one matched
        matched |= bool(candidate) and hmac.compare_digest(candidate.encode(), verify_token.encode())
    if mode != "subscribe" or not matched:
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(challenge)


@router.post("/whatsapp/webhook", response_class=PlainTextResponse, summary="Meta's call and message webhooks")
async def receive(request: Request) -> PlainTextResponse:
    gateway = request.app.state.gateway
    body = await request.body()
    try:
        payload = json.loads(body)
    except ValueError:
        return PlainTextResponse("invalid JSON", status_code=400)
    if not isinstance(payload, dict):
        return PlainTextResponse("invalid payload", status_code=400)
    numbers = phone_number_ids(payload)
    if not numbers:
        return PlainTextResponse("no metadata.phone_number_id in payload", status_code=400)
    sessions = {}
    for pnid in numbers:
        session = await gateway.sessions.by_phone_number_id(pnid)
        if session is None:
            return PlainTextResponse(f"no session for phone_number_id {pnid}", status_code=404)
        sessions[pnid] = session
    signature = request.headers.get("X-Hub-Signature-256")
    if not all(signature_valid((s.cloud or {}).get("app_secret", ""), body, signature) for s in sessions.values()):
        log.warning("Meta webhook with a bad signature ignored", extra={"numbers": sorted(numbers)})
        return PlainTextResponse("invalid signature", status_code=401)
    for pnid, event in read_events(payload):
        await gateway.calls.handle(sessions[pnid], event)
    return PlainTextResponse("ok")
