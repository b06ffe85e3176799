"""Who is calling: a session (``token`` header, or ``?token=`` for browsers) or the admin (``admintoken``)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, APIKeyQuery

from callbridge.api import call_tokens
from callbridge.api.deps import AdminToken, CallTokenKey, Sessions
from callbridge.errors import Forbidden, Unauthorized
from callbridge.media.endpoint import Role
from callbridge.store.models import SessionRow

# Distinct scheme names: FastAPI names schemes after their class, so the two headers would collide in the schema.
token_header = APIKeyHeader(
    name="token", scheme_name="token", auto_error=False, description="session token (or a call token, where accepted)"
)
token_query = APIKeyQuery(
    name="token", scheme_name="tokenQuery", auto_error=False, description="session token as ?token= (EventSource)"
)
admin_header = APIKeyHeader(name="admintoken", scheme_name="admintoken", auto_error=False, description="admin token")
TokenHeader = Annotated[str | None, Depends(token_header)]
TokenQuery = Annotated[str | None, Depends(token_query)]


async def session_auth(sessions: Sessions, header: TokenHeader, query: TokenQuery) -> SessionRow:
    token = header or query
    if not token:
        raise Unauthorized("invalid token")
    row = await sessions.by_token(token)
    if row is None:
        raise Unauthorized("invalid token")
    return row


async def admin_auth(expected: AdminToken, header: Annotated[str | None, Depends(admin_header)]) -> None:
    if not header or not hmac.compare_digest(header.encode(), expected.encode()):
        raise Unauthorized("invalid admin token")


@dataclass(frozen=True)
class CallAccess:
    """Who may act on calls here: a whole session, or a browser holding one call's token."""

    session: SessionRow
    only_call: str | None = None  # set for call tokens
    role: Role = Role.TALK  # what a call token may attach: talk any role, listen and whisper only their own
    generation: int | None = None  # a call token's: the call's transfer count when it was minted

    def require(self, call_id: str) -> None:
        if self.only_call is not None and self.only_call != call_id:
            raise Unauthorized("this call token is not valid for that call")

    def require_current(self, generation: int) -> None:
        """A blind transfer retires the call tokens made before it: the previous agent's page cannot take the
        call back by reconnecting."""
        if self.generation is not None and self.generation < generation:
            raise Unauthorized("this call token was issued before the call was transferred: ask for a new one")

    def require_role(self, wanted: Role) -> None:
        if not self.role.permits(wanted):
            raise Forbidden(f"this call token may only attach {self.role.value} endpoints, not {wanted.value}")


async def call_access(key: CallTokenKey, sessions: Sessions, header: TokenHeader, query: TokenQuery) -> CallAccess:
    """The session token, or a call token from POST /call/webrtc/token (header ``token`` or ``?token=``)."""
    token = header or query
    if token and call_tokens.is_call_token(token):
        grant = call_tokens.verify(key, token)
        session = await sessions.by_id(grant.session_id)
        if session is None:
            raise Unauthorized("invalid token")
        role = Role(grant.role) if grant.role in set(Role) else Role.LISTEN
        return CallAccess(session, grant.call_id, role, grant.generation)
    return CallAccess(await session_auth(sessions, header, query))


Session = Annotated[SessionRow, Depends(session_auth)]
Access = Annotated[CallAccess, Depends(call_access)]
