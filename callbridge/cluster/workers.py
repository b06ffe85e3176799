"""``callbridge serve --workers N``: N nodes on one box, one per core. They share the public port (SO_REUSEPORT:
the kernel spreads connections), each has its own node port for node-to-node requests, and they coordinate
through PostgreSQL like nodes on different machines. This process only starts them, restarts one that crashes,
and passes signals on (so SIGTERM drains every worker)."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from callbridge.config import Settings

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds before a crashed worker is started again


def listen_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and without it a
    # keep-alive request waits ~40 ms for a delayed ACK (Nagle holds the body behind the unacknowledged headers).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_environment(settings: Settings, index: int, secret: str) -> dict[str, str]:
    node_port = (settings.node_port or settings.port + 1) + index
    return {
        **os.environ,
        "CALLBRIDGE_NODE_PORT": str(node_port),
        "CALLBRIDGE_NODE_ID": f"{settings.node_id or socket.gethostname()}:{node_port}",
        "CALLBRIDGE_CLUSTER_SECRET": secret,
        "CALLBRIDGE_REUSE_PORT": "true",
    }


class Workers:
    def __init__(self, settings: Settings, count: int, serve_args: Sequence[str]) -> None:
        self.settings = settings
        self.count = count
        self.command = [sys.executable, "-m", "callbridge", "serve", *serve_args]
        # Workers of one box form a cluster of their own unless the operator joins them to a bigger one.
        secret = settings.cluster_secret.get_secret_value() if settings.cluster_secret else secrets.token_urlsafe(32)
        self.environments = [worker_environment(settings, i, secret) for i in range(count)]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.stopping = False

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._pass_on)
        for index in range(self.count):
            self._start(index)
        while any(p is not None and p.poll() is None for p in self.processes) or not self.stopping:
            time.sleep(0.2)
            for index, process in enumerate(self.processes):
                if process is not None and process.poll() is not None and not self.stopping:
                    log.error("worker %d exited with %s; starting it again", index, process.returncode)
                    time.sleep(RESTART_PAUSE)
                    self._start(index)
        return 0

    def _start(self, index: int) -> None:
        self.processes[index] = subprocess.Popen(self.command, env=self.environments[index])

    def _pass_on(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(sig)
