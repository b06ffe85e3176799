"""``/internal/*``: what nodes of one cluster ask each other (with the cluster secret), outside the public API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
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


def _from_a_node(request: Request, settings: SettingsDep) -> None:
    """A dependency, so that it runs before the body is read: without the secret, nothing else is answered."""
    secret = settings.cluster_secret
    if secret is None or not from_node(request.headers, secret.get_secret_value()):
        raise Unauthorized("node-to-node requests need the cluster secret")


@router.post(NEWS_PATH, dependencies=[Depends(_from_a_node)])
async def news(body: RelayedNews, sessions: Sessions, calls: Calls) -> JSONResponse:
    """WhatsApp's news of a call this node carries, from the node that received Meta's delivery."""
    session = await sessions.by_id(body.session_id)
    if session is None:
        raise NotFound("unknown session")
    await calls.handle(session, news_wire.decode(body.news))
    return ok({"details": "taken"})
