"""Who is calling: a session (``token`` header, or ``?token=`` for browsers) or the admin (``admintoken``)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery

from callbridge.api import call_tokens
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


@dataclass(frozen=True)
class CallAccess:
    """Who may act on calls here: a whole session, or a browser holding one call's token."""

    session: SessionRow
    only_call: str | None = None  # set for call tokens

    def require(self, call_id: str) -> None:
        if self.only_call is not None and self.only_call != call_id:
            raise Unauthorized("this call token is not valid for that call")


async def call_access(
    request: Request,
    header: str | None = Depends(_token_header),
    query: str | None = Depends(_token_query),
) -> CallAccess:
    """The session token, or a call token from POST /call/webrtc/token (header ``token`` or ``?token=``)."""
    token = header or query
    if token and call_tokens.is_call_token(token):
        gw = gateway(request)
        grant = call_tokens.verify(gw.call_token_key, token)
        session = await gw.sessions.by_id(grant.session_id)
        if session is None:
            raise Unauthorized("invalid token")
        return CallAccess(session, grant.call_id)
    return CallAccess(await session_auth(request, header, query))
