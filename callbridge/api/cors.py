"""Cross-origin browser access (CORS) for the origins in CALLBRIDGE_CORS_ORIGINS: a page served elsewhere may load
the SDK from the gateway and call the API with the headers the SDK and the softphone send. Requests from any other
origin are served as if CORS did not exist: no Access-Control-* header, so the browser refuses them."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS")
# What callbridge.js, event-stream.js and the softphone send (token, Content-Type, Accept, Range for a player's
# seek), what an app may add (admintoken, X-Request-ID), and what EventSource-like readers send on a retry.
HEADERS = ("token", "admintoken", "Content-Type", "Accept", "Range", "X-Request-ID", "Last-Event-ID", "Cache-Control")
# What a page may read from our answers: the request id, and what an audio player needs to seek.
EXPOSED = ("X-Request-ID", "Content-Range", "Accept-Ranges", "Content-Length", "Content-Disposition")
MAX_AGE = 600  # seconds a browser may keep a preflight's answer


class AllowedOriginsCORS(CORSMiddleware):
    """Starlette's CORS for the listed origins only: no credentials (tokens travel in headers, not cookies)."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=HEADERS,
            expose_headers=EXPOSED,
            max_age=MAX_AGE,
        )
        self.bare = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin") if scope["type"] == "http" else None
        if origin is None or not self.is_allowed_origin(origin):
            await self.bare(scope, receive, send)  # same-origin, no browser, or an origin not listed
            return
        await super().__call__(scope, receive, send)
