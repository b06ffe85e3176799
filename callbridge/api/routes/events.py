"""``GET /call/events``: live call events as Server-Sent Events, for pages (EventSource sends ?token=)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from callbridge.api.auth import CallAccess, call_access, gateway
from callbridge.api.routes.calls import query_param
from callbridge.calls.model import Call
from callbridge.errors import Unauthorized

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
)
async def events(
    request: Request,
    access: CallAccess = Depends(call_access),
    call_id: str | None = Query(None, alias="CallID"),
) -> StreamingResponse:
    calls = gateway(request).calls
    call_id = call_id or query_param(request, "CallID")
    call: Call | None = None
    if call_id:
        access.require(call_id)
        call = await calls.get(access.session, call_id)
    elif access.only_call is not None:
        raise Unauthorized("a call token only streams its own call: add ?CallID=")
    key = call.id if call is not None else f"session:{access.session.id}"
    queue = calls.watch(key)
    return StreamingResponse(
        _stream(request, calls, access, call, key, queue),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, calls: Any, access: CallAccess, call: Call | None, key: str, queue: asyncio.Queue[Any]
) -> AsyncIterator[bytes]:
    media = call.media if call is not None and call.live else None
    if media is not None:
        media.meter(True)
    try:
        if call is None:
            yield sse("calls", [c.view() for c in await calls.list(access.session)])
        else:
            yield sse("call", call.view())
            if not call.live:
                return
        next_level = next_progress = time.monotonic()
        next_keepalive = time.monotonic() + KEEPALIVE_EVERY
        while not await request.is_disconnected():
            try:
                async with asyncio.timeout(LEVEL_EVERY):
                    event_type, payload = await queue.get()
                yield sse(event_type, payload)
                if call is not None and event_type == "CallState" and payload.get("Event") == "ended":
                    return
            except TimeoutError:
                pass
            now = time.monotonic()
            if media is not None and now >= next_level:
                next_level = now + LEVEL_EVERY
                yield sse("levels", media.levels())
            if media is not None and now >= next_progress:
                next_progress = now + PROGRESS_EVERY
                if progress := media.progress():
                    yield sse("progress", progress)
            if now >= next_keepalive:
                next_keepalive = now + KEEPALIVE_EVERY
                yield b": keepalive\n\n"
    finally:
        calls.unwatch(key, queue)
        if media is not None:
            media.meter(False)
