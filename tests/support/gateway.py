"""The gateway as a real process on 127.0.0.1, started, stopped, killed and restarted like in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port, wait_until

ADMIN_TOKEN = "test-admin-token-0123456789"


class GatewayProcess:
    def __init__(self, workdir: Path, database_url: str, **settings: Any) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gateway.log"
        self.env = {
            **os.environ,
            "CALLBRIDGE_HOST": "127.0.0.1",
            "CALLBRIDGE_PORT": str(self.port),
            "CALLBRIDGE_DATA_DIR": str(workdir / "data"),
            "CALLBRIDGE_FILES_DIR": str(workdir / "files"),
            "CALLBRIDGE_DATABASE_URL": database_url,
            "CALLBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "CALLBRIDGE_LOG_LEVEL": "DEBUG",
        }
        self.env.update({f"CALLBRIDGE_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)
        self.admin = {"admintoken": ADMIN_TOKEN}

    def start(self) -> GatewayProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callbridge", "serve"],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._healthy, timeout=30, what=f"the gateway on {self.url} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"gateway exited with {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return self.client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, like a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> GatewayProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        self.stop()
        self.client.close()

    # Shorthands for the WaGo API.
    def post(self, path: str, token: str | None = None, admin: bool = False, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers=self._headers(token, admin, kwargs.pop("headers", None)), **kwargs)

    def get(self, path: str, token: str | None = None, admin: bool = False, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self._headers(token, admin, kwargs.pop("headers", None)), **kwargs)

    def _headers(self, token: str | None, admin: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if token is not None:
            headers["token"] = token
        if admin:
            headers.update(self.admin)
        return headers
