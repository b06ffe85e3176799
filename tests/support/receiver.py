"""A real webhook receiver: an HTTP server that records deliveries and can fail or go away on demand."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from callbridge.events.wago import signature_matches
from tests.support.net import free_port


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    token: str
    type: str
    event: dict[str, Any]
    answered: int

    @property
    def event_id(self) -> str:
        return self.event["EventID"]


@dataclass
class Receiver:
    """Answers ``status`` to every delivery; ``deliveries`` holds every request, ``events`` the unique ones."""

    status: int = 200
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                form = parse_qs(body.decode())
                data = json.loads(form["jsonData"][0])
                with receiver._lock:
                    status = receiver.status
                    headers = dict(self.headers.items())
                    delivery = Delivery(headers, body, form["token"][0], data["type"], data["event"], status)
                    receiver.deliveries.append(delivery)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Go away entirely: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
        with self._lock:
            return all(
                signature_matches(secret, d.body, d.headers.get("X-Callbridge-Signature")) for d in self.deliveries
            )
