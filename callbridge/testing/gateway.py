"""The gateway (`callbridge serve`) as a real process, with shorthands for its HTTP API."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx

from .server_process import ServerProcess
from .waiting import free_port

DEFAULT_ADMIN_TOKEN = "callbridge-testing-admin-token"
# Settings a whole test run can flip for every gateway it starts that does not set them itself:
# CALLBRIDGE_TEST_MEDIA_PATH=aiortc runs the suite on aiortc's packet path, CALLBRIDGE_TEST_EVENT_LOOP=uvloop on uvloop.
RUN_WIDE = {"media_path": "CALLBRIDGE_TEST_MEDIA_PATH", "event_loop": "CALLBRIDGE_TEST_EVENT_LOOP"}


class Gateway(ServerProcess):
    """`callbridge serve` on 127.0.0.1 and a free port, its data in ``workdir/data``, files in ``workdir/files``.

    ``settings`` are the gateway's settings by name, passed as their CALLBRIDGE_* variables:
    ``Gateway(tmp, ice_hosts="127.0.0.1", ring_timeout=4)``. Media between local processes needs
    ``ice_hosts="127.0.0.1"``. Without ``database_url`` the gateway uses SQLite in its data dir. Webhooks to
    loopback and private addresses are allowed (``webhook_allow_private=False`` to refuse them, as by default)."""

    def __init__(
        self,
        workdir: Path,
        database_url: str | None = None,
        *,
        admin_token: str = DEFAULT_ADMIN_TOKEN,
        **settings: Any,
    ) -> None:
        workdir = Path(workdir)
        port = free_port()
        run_wide = {name: os.environ[var] for name, var in RUN_WIDE.items() if os.environ.get(var)}
        values: dict[str, Any] = {
            **run_wide,
            "data_dir": workdir / "data",
            "files_dir": workdir / "files",
            "webhook_allow_private": True,  # receivers are on 127.0.0.1; a test of the refusal sets it False
            **({"database_url": database_url} if database_url else {}),
            **settings,
            "host": "127.0.0.1",  # the kit's, whatever settings say: the URL below must be right
            "port": port,
            "admin_token": admin_token,
        }
        env = {f"CALLBRIDGE_{name.upper()}": str(value) for name, value in values.items()}
        super().__init__(workdir, "gateway", [sys.executable, "-m", "callbridge", "serve"], "/health", port, env)
        self.admin_token = admin_token

    def post(self, path: str, token: str | None = None, admin: bool = False, **kwargs: Any) -> httpx.Response:
        """POST ``path`` with the session ``token`` and/or the admin token; ``kwargs`` go to httpx (``json=``...)."""
        return self.client.post(path, headers=self._headers(token, admin, kwargs.pop("headers", None)), **kwargs)

    def get(self, path: str, token: str | None = None, admin: bool = False, **kwargs: Any) -> httpx.Response:
        """GET ``path`` with the session ``token`` and/or the admin token; ``kwargs`` go to httpx (``params=``...)."""
        return self.client.get(path, headers=self._headers(token, admin, kwargs.pop("headers", None)), **kwargs)

    def _headers(self, token: str | None, admin: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if token is not None:
            headers["token"] = token
        if admin:
            headers["admintoken"] = self.admin_token
        return headers
