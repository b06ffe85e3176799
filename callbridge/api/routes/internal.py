"""``/internal/*``: what nodes of one cluster ask each other (with the cluster secret), outside the public API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from callbridge.api.deps import Calls, Sessions, SettingsDep
from callbridge.api.envelope import ok
from callbridge.cluster import news_wire
from callbridge.cluster.forward import NEWS_PATH, from_node
from callbridge.errors import NotFound, Unauthorized

router = APIRouter(include_in_schema=False)


class RelayedNews(BaseModel):
    session_id: int
    news: dict[str, Any]


@router.post(NEWS_PATH)
async def news(
    request: Request, body: RelayedNews, sessions: Sessions, calls: Calls, settings: SettingsDep
) -> JSONResponse:
    """WhatsApp's news of a call this node carries, from the node that received Meta's delivery."""
    secret = settings.cluster_secret
    if secret is None or not from_node(request.headers, secret.get_secret_value()):
        raise Unauthorized("node-to-node requests need the cluster secret")
    session = await sessions.by_id(body.session_id)
    if session is None:
        raise NotFound("unknown session")
    await calls.handle(session, news_wire.decode(body.news))
    return ok({"details": "taken"})
