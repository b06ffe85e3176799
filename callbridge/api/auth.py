"""Who is calling: a session (``token`` header, or ``?token=`` for browsers) or the admin (``admintoken``)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery

from callbridge.errors import Unauthorized
from callbridge.store.models import SessionRow

if TYPE_CHECKING:
    from callbridge.app import Gateway

_token_header = APIKeyHeader(name="token", auto_error=False, description="session token")
_token_query = APIKeyQuery(name="token", auto_error=False, description="session token (for EventSource/WebSocket)")
_admin_header = APIKeyHeader(name="admintoken", auto_error=False, description="admin token")


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway


async def session_auth(
    request: Request,
    header: str | None = Depends(_token_header),
    query: str | None = Depends(_token_query),
) -> SessionRow:
    token = header or query
    if not token:
        raise Unauthorized("invalid token")
    row = await gateway(request).sessions.by_token(token)
    if row is None:
        raise Unauthorized("invalid token")
    return row


async def admin_auth(request: Request, header: str | None = Depends(_admin_header)) -> None:
    expected = gateway(request).admin_token
    if not header or not hmac.compare_digest(header.encode(), expected.encode()):
        raise Unauthorized("invalid admin token")
