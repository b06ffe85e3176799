"""Your app's end of the gateway's webhooks: an HTTP server that records every delivery, and can fail, answer
slowly or go away on demand to exercise the gateway's retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

from .waiting import free_port


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Callbridge-Signature`` (``sha256=<hex>``) is the HMAC-SHA256 of the raw body with ``secret``."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class Delivery:
    """One POST from the gateway: the form's ``token`` and its ``jsonData`` (``type``, ``event``), the raw body
    and headers, and the status the receiver answered."""

    headers: dict[str, str]
    body: bytes
    token: str
    type: str
    event: dict[str, Any]
    answered: int

    @property
    def event_id(self) -> str:
        """The event's ``EventID``: a redelivery repeats it."""
        event_id: str = self.event["EventID"]
        return event_id


@dataclass
class WebhookReceiver:
    """Answers ``status`` to every delivery, after ``delay`` seconds (a slow app; change either at any time);
    ``deliveries`` holds every request answered, :meth:`accepted` the unique events answered 2xx, :attr:`holding`
    the requests waiting out the delay. A context manager: started on entry, stopped on exit."""

    status: int = 200
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _holding: int = 0
    _most_held: int = 0

    @property
    def url(self) -> str:
        """The URL to give the gateway (``POST /webhook``)."""
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Self:
        """Listen (again, after :meth:`stop`) on the same port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = parse_qs(body.decode())
                data = json.loads(form["jsonData"][0])
                with receiver._lock:
                    receiver._holding += 1
                    receiver._most_held = max(receiver._most_held, receiver._holding)
                    delay = receiver.delay
                time.sleep(delay)
                with receiver._lock:
                    receiver._holding -= 1
                    status = receiver.status
                    headers = dict(self.headers.items())
                    delivery = Delivery(headers, body, form["token"][0], data["type"], data["event"], status)
                    receiver.deliveries.append(delivery)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        """Go away entirely: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def holding(self) -> int:
        """Requests received and not answered yet (waiting out ``delay``)."""
        with self._lock:
            return self._holding

    @property
    def most_held(self) -> int:
        """The most requests held at once so far: how many the gateway had in flight to this app."""
        with self._lock:
            return self._most_held

    def accepted(self) -> list[Delivery]:
        """Deliveries answered with 2xx, de-duplicated by EventID as a receiver should."""
        seen: set[str] = set()
        unique = []
        with self._lock:
            for delivery in self.deliveries:
                if not 200 <= delivery.answered < 300 or delivery.event_id in seen:
                    continue
                seen.add(delivery.event_id)
                unique.append(delivery)
        return unique

    def signatures_valid(self, secret: str) -> bool:
        """Whether every delivery so far was signed with ``secret``."""
        with self._lock:
            return all(
                verify_signature(secret, d.body, d.headers.get("X-Callbridge-Signature")) for d in self.deliveries
            )

    def __enter__(self) -> Self:
        return self if self._server is not None else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
