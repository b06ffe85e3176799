"""The session-wide event stream on a node of several: this node's events, and every other live node's, as one
stream. Each other node is asked for its own (a node-to-node request is answered locally); the first block of
each, its snapshot of live calls, is left out (this node's snapshot lists every node's calls already)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request

from callbridge.cluster.forward import Forwarder

log = logging.getLogger(__name__)


async def merged(request: Request, local: AsyncIterator[bytes], forwarder: Forwarder) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
    others = [n for n in await forwarder.registry.alive() if n.id != forwarder.registry.node_id]
    tasks = [asyncio.create_task(_pump_local(local, queue))]
    tasks += [asyncio.create_task(_pump_remote(request, forwarder, n.url, queue)) for n in others]
    try:
        while (block := await queue.get()) is not None:  # None: the local stream ended (client gone)
            yield block
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump_local(local: AsyncIterator[bytes], queue: asyncio.Queue[bytes | None]) -> None:
    try:
        async for block in local:
            await queue.put(block)
    finally:
        await queue.put(None)


async def _pump_remote(request: Request, forwarder: Forwarder, url: str, queue: asyncio.Queue[bytes | None]) -> None:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() in ("token", "accept")]
    try:
        async with forwarder.http.stream(
            "GET",
            url + request.url.path,
            params=request.url.query,
            headers=forwarder.node_headers(headers),
        ) as answer:
            if answer.status_code != 200:
                return
            block: list[str] = []
            snapshot_skipped = False
            async for line in answer.aiter_lines():
                if line:
                    block.append(line)
                    continue
                if block and not block[0].startswith(":"):  # a comment is that node's keepalive
                    if snapshot_skipped:
                        await queue.put(("\n".join(block) + "\n\n").encode())
                    snapshot_skipped = True
                block = []
    except Exception as exc:  # the node went: its calls' ends come from the survivor that ends them
        with contextlib.suppress(Exception):
            log.info("event stream of node %s ended: %s", url, exc)
