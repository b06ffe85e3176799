"""Requests for another node: a client's request passed on to the node that carries the call, answered back
unchanged (streams included), and news of a call handed to its node. Node-to-node requests carry the cluster
secret; a forwarded request is never forwarded again."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from callbridge.cluster import news_wire
from callbridge.cluster.registry import NodeRegistry
from callbridge.connectors.events import CallNews
from callbridge.errors import Unavailable
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)

SECRET_HEADER = "x-callbridge-cluster"
FORWARDED_BY_HEADER = "x-callbridge-forwarded-by"
NEWS_PATH = "/internal/news"
NODES_TTL = 1.0  # seconds the live nodes' URLs are reused
# Hop-by-hop headers (RFC 9110 §7.6.1) and those the next hop sets itself.
HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
     "content-length", SECRET_HEADER, FORWARDED_BY_HEADER}
)  # fmt: skip


def from_node(headers: Mapping[str, str], secret: str) -> bool:
    """Whether a request comes from another node of this cluster."""
    given = headers.get(SECRET_HEADER)
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class Forwarder:
    def __init__(self, registry: NodeRegistry, secret: str) -> None:
        self.registry = registry
        self.secret = secret
        self._urls: dict[str, str] = {}
        self._read_at = -NODES_TTL
        # No read timeout: an event stream through another node lasts as long as the call.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None),
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def url_of(self, node_id: str) -> str:
        """A live node's URL; the registry is read at most once a second (a request forwarded is one query
        fewer), so a node that just died may be tried once more and answer 503."""
        now = time.monotonic()
        if now - self._read_at > NODES_TTL or node_id not in self._urls:  # a node new since: look again
            self._urls = {n.id: n.url for n in await self.registry.alive()}
            self._read_at = now
        url = self._urls.get(node_id)
        if url is None:
            raise Unavailable(f"the node carrying the call ({node_id}) is not answering: its calls are being ended")
        return url

    def node_headers(self, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        return [*(extra or []), (SECRET_HEADER, self.secret), (FORWARDED_BY_HEADER, self.registry.node_id)]

    async def proxy(self, request: Request, node_id: str) -> Response:
        """Pass ``request`` (its body already read) to ``node_id`` and answer with what it answers."""
        base = await self.url_of(node_id)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        client = request.client.host if request.client else ""
        prior = request.headers.get("x-forwarded-for")
        headers.append(("x-forwarded-for", f"{prior}, {client}" if prior else client))
        upstream = self.http.build_request(
            request.method,
            base + request.url.path,
            params=request.url.query,
            content=await request.body(),
            headers=self.node_headers(headers),
        )
        try:
            answer = await self.http.send(upstream, stream=True)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the node carrying the call ({node_id}) did not answer: {exc}") from exc
        response_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers=response_headers,
            background=BackgroundTask(answer.aclose),
        )

    async def relay(self, node_id: str, session: SessionRow, news: CallNews) -> None:
        base = await self.url_of(node_id)
        answer = await self.http.post(
            base + NEWS_PATH,
            json={"session_id": session.id, "news": news_wire.encode(news)},
            headers=self.node_headers(),
            timeout=10.0,
        )
        answer.raise_for_status()
