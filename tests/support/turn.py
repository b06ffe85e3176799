"""Debian's coturn on 127.0.0.1, with the TURN REST scheme (use-auth-secret), for TURN tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.net import free_port, wait_until


class Coturn:
    def __init__(self, workdir: Path, secret: str) -> None:
        if shutil.which("turnserver") is None:
            raise RuntimeError("coturn is not installed: make test installs it (scripts/install-test-deps.sh)")
        self.secret = secret
        self.port = free_port()
        self.min_port = 49152 + (self.port % 1000) * 10
        self.log_path = workdir / "coturn.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def urls(self) -> list[str]:
        return [f"turn:127.0.0.1:{self.port}?transport=udp", f"turn:127.0.0.1:{self.port}?transport=tcp"]

    def start(self) -> Coturn:
        self.proc = subprocess.Popen(
            [
                "turnserver",
                "-n",
                "--listening-ip=127.0.0.1",
                "--relay-ip=127.0.0.1",
                f"--listening-port={self.port}",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                "--realm=callbridge.test",
                "--allow-loopback-peers",
                "--no-cli",
                "--fingerprint",
                f"--min-port={self.min_port}",
                f"--max-port={self.min_port + 200}",
                "--no-tls",
                "--no-dtls",
                "--no-multicast-peers",
                "--log-file=stdout",
                "--simple-log",
            ],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._listening, timeout=15, what=f"coturn on 127.0.0.1:{self.port}")
        return self

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"coturn exited: {self.log_path.read_text()[-2000:]}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
