"""A small stand-in for Meta's Graph API phone-number endpoint, for the session tests."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.net import free_port


@dataclass
class GraphStandIn:
    """Knows numbers as {phone_number_id: (access_token, display_phone_number)}; answers like Meta."""

    numbers: dict[str, tuple[str, str]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GraphStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                match = re.match(r"^/v\d+\.\d+/([^/?]+)(\?.*)?$", self.path)
                phone_number_id = match.group(1) if match else ""
                number = stand_in.numbers.get(phone_number_id)
                if number is None:
                    self._reply(400, _error("Unsupported get request.", 100, "GraphMethodException"))
                elif self.headers.get("Authorization") != f"Bearer {number[0]}":
                    self._reply(401, _error("Invalid OAuth access token - Cannot parse access token", 190))
                else:
                    self._reply(
                        200, {"display_phone_number": number[1], "verified_name": "Test", "id": phone_number_id}
                    )

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _error(message: str, code: int, kind: str = "OAuthException") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}}
