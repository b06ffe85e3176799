"""``GET /call/events``: live call events as Server-Sent Events, for pages (EventSource sends ?token=)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from callbridge.api.auth import Access, CallAccess
from callbridge.api.deps import CallIDQuery, Calls, Feed, ForwarderDep
from callbridge.api.openapi import errors
from callbridge.calls.events import CallStateChanged
from callbridge.calls.feed import CallFeed
from callbridge.calls.model import Call
from callbridge.calls.service import CallService
from callbridge.cluster.forward import from_node
from callbridge.cluster.session_stream import merged
from callbridge.errors import Unauthorized
from callbridge.events.views import call_view, event_view, progress_view

router = APIRouter(tags=["calls"])

LEVEL_EVERY = 0.25  # seconds between audio level events
PROGRESS_EVERY = 1.0  # seconds between playback/recording progress events
KEEPALIVE_EVERY = 15.0  # seconds between comments that keep proxies from closing an idle stream


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get(
    "/call/events",
    summary="Server-Sent Events: one call (?CallID=, session or call token) or all of the session's calls",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the call (or `calls`), then its events as they happen: `event: <type>`, `data: <json>`",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 404),
    },
)
async def events(
    request: Request, access: Access, calls: Calls, feed: Feed, call_id: CallIDQuery, forwarder: ForwarderDep
) -> StreamingResponse:
    call: Call | None = None
    if call_id:
        access.require(call_id)
        call = await calls.get(access.session, call_id)
    elif access.only_call is not None:
        raise Unauthorized("a call token only streams its own call: add ?CallID=")
    stream = _stream(request, calls, feed, access, call)
    if call is None and forwarder is not None and not from_node(request.headers, forwarder.secret):
        stream = merged(request, stream, forwarder)  # the session's calls on every node
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, calls: CallService, feed: CallFeed, access: CallAccess, call: Call | None
) -> AsyncIterator[bytes]:
    media = call.media if call is not None and call.live else None
    if media is not None:
        media.meter(True)
    try:
        with feed.subscribe(access.session.id, call.id if call is not None else None) as queue:
            if call is None:
                yield sse("calls", [call_view(c.snapshot()) for c in await calls.list(access.session)])
            else:
                yield sse("call", call_view(call.snapshot()))
                if not call.live:
                    return
            next_level = next_progress = time.monotonic()
            next_keepalive = time.monotonic() + KEEPALIVE_EVERY
            while not await request.is_disconnected():
                try:
                    async with asyncio.timeout(LEVEL_EVERY):
                        event = await queue.get()
                    yield sse(*event_view(event))
                    if call is not None and isinstance(event, CallStateChanged) and event.state == "ended":
                        return
                except TimeoutError:
                    pass
                now = time.monotonic()
                if media is not None and now >= next_level:
                    next_level = now + LEVEL_EVERY
                    yield sse("levels", media.levels())
                if media is not None and now >= next_progress:
                    next_progress = now + PROGRESS_EVERY
                    if progress := progress_view(media.status()):
                        yield sse("progress", progress)
                if now >= next_keepalive:
                    next_keepalive = now + KEEPALIVE_EVERY
                    yield b": keepalive\n\n"
    finally:
        if media is not None:
            media.meter(False)
