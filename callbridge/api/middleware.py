"""ASGI middleware: request ids with an access log, a bug's 500 that keeps the connection, and the request
body's size and time limits."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbridge.api.cors import AllowedOriginsCORS
from callbridge.config import Settings
from callbridge.logs import request_id

log = logging.getLogger(__name__)


def install_middleware(app: Starlette, settings: Settings) -> None:
    """The gateway's middleware, outermost last: request ids around everything, then CORS (when origins are
    set: so that errors, the 500 of last resort too, carry its headers), then the 500 of last resort."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    app.add_middleware(UnexpectedErrorMiddleware)
    if origins := settings.cors_origin_list():
        app.add_middleware(AllowedOriginsCORS, origins=origins)
    app.add_middleware(RequestIdMiddleware)


access_log = logging.getLogger("callbridge.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Tag every request with an id (the client's ``X-Request-ID`` if sane) and log it without its query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # The path only: query strings may carry ?token=.
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)


class UnexpectedErrorMiddleware:
    """A bug's exception becomes a 500 in WaGo's envelope, logged once. Starlette's own handler answers too, but
    then re-raises, and uvicorn drops the keep-alive connection: the client's next request would fail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise  # half a response went out: only closing the connection can tell the client
            await _send_json(send, 500, "internal error")


class BodyLimitMiddleware:
    """Refuse bodies larger than ``max_bytes`` with 413, whether or not Content-Length is sent, and bodies not
    received within ``timeout`` seconds with 408 (a client trickling its body must not hold a request forever)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            await _send_json(send, 408, f"the request body did not arrive within {self.timeout:g} seconds")
            return
        except _TooLarge:
            await self._too_large(send)
            return
        if body is None:
            return  # the client went away
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        # Bodies here are small (JSON, SDP), so buffering them whole is cheap and keeps the check exact.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await _send_json(send, 413, f"request body larger than {self.max_bytes} bytes")


class _TooLarge(Exception):
    pass


async def _send_json(send: Send, status: int, error: str) -> None:
    """An error in WaGo's envelope, written at the ASGI level (below FastAPI's handlers)."""
    payload = json.dumps({"code": status, "error": error, "success": False}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
