"""The server's defences against slow, idle, greedy and unlucky clients, over real sockets: a real gateway
process for the time and connection limits, and the gateway's own middleware and server under a route that
fails like a bug would."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from callbridge.api.envelope import install_error_handlers
from callbridge.api.middleware import install_middleware
from callbridge.api.server import server_config
from callbridge.config import Settings
from callbridge.testing import Gateway, free_port, wait_until


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


GET_HEALTH = b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n"


@pytest.fixture(scope="module")
def strict_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(
        tmp_path_factory.mktemp("limits"),
        header_timeout=1,
        body_timeout=1,
        max_connections_per_client=4,
        proxy_addresses="",
    )
    with gateway:
        gateway.client.close()  # its pooled connection would count against the limit
        yield gateway


def test_a_client_that_never_finishes_its_headers_is_disconnected(strict_gateway: Gateway) -> None:
    silent, slow = connect(strict_gateway.port), connect(strict_gateway.port)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: gw\r\n")  # ... and nothing more, ever
    assert closed_by_server(silent, within=5) and closed_by_server(slow, within=5)
    silent.close()
    slow.close()


def test_a_kept_alive_connection_gets_the_same_time_for_its_next_request(strict_gateway: Gateway) -> None:
    sock = connect(strict_gateway.port)
    sock.sendall(GET_HEALTH)
    assert response(sock).startswith(b"HTTP/1.1 200")
    sock.sendall(b"GET /health HTTP/1.1\r\n")  # the next request starts, then stalls
    assert closed_by_server(sock, within=5)
    sock.close()


def test_a_body_that_does_not_arrive_in_time_gets_408(strict_gateway: Gateway) -> None:
    sock = connect(strict_gateway.port)
    sock.sendall(b"POST /call/make HTTP/1.1\r\nHost: gw\r\ntoken: x\r\nContent-Length: 100\r\n\r\n{")
    answer = response(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 seconds" in answer
    sock.close()


def test_one_address_holds_at_most_its_share_of_connections(strict_gateway: Gateway) -> None:
    held = [connect(strict_gateway.port) for _ in range(4)]
    for sock in held:  # keep them busy with requests so the header timeout does not free them
        sock.sendall(GET_HEALTH)
        assert response(sock).startswith(b"HTTP/1.1 200")
    extra = connect(strict_gateway.port)  # the kernel accepts it; the gateway closes it at once
    assert closed_by_server(extra, within=0.8)
    extra.close()
    held.pop().close()

    def room_again() -> bool:
        sock = connect(strict_gateway.port)
        try:
            sock.sendall(GET_HEALTH)
            return response(sock).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
        finally:
            sock.close()

    wait_until(room_again, timeout=5, what="a freed connection slot")
    for sock in held:
        sock.close()


def test_the_limit_ignores_the_reverse_proxys_address(tmp_path: Path) -> None:
    with Gateway(tmp_path, max_connections_per_client=1) as gateway:  # loopback is the default proxy address
        gateway.client.close()
        socks = [connect(gateway.port) for _ in range(3)]
        for sock in socks:
            sock.sendall(GET_HEALTH)
            assert response(sock).startswith(b"HTTP/1.1 200")
            sock.close()


def test_a_bugs_500_has_the_envelope_and_keeps_the_connection(tmp_path: Path) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"fine": True}

    settings = Settings(data_dir=tmp_path)
    install_middleware(app, settings)
    port = free_port()
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=10, what="the server")
        sock = connect(port)
        sock.sendall(b"GET /bug HTTP/1.1\r\nHost: x\r\n\r\n")
        first = response(sock)
        assert first.startswith(b"HTTP/1.1 500")
        assert first.endswith(b'{"code": 500, "error": "internal error", "success": false}')
        sock.sendall(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection, still usable
        assert response(sock).startswith(b"HTTP/1.1 200")
        sock.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
