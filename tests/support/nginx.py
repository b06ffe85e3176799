"""Debian's nginx as the load balancer in front of several gateway nodes, on 127.0.0.1 and a free port: round
robin, WebSocket upgrade, and unbuffered responses so event streams pass through as they happen."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from callbridge.testing import wait_until
from callbridge.testing.waiting import free_port

CONFIG = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    upstream callbridge {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://callbridge;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, workdir: Path, upstreams: list[str]) -> None:
        self.prefix = Path(workdir) / "nginx"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstreams = upstreams  # host:port of each node
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix.mkdir(parents=True, exist_ok=True)
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=2s;" for u in self.upstreams)
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONFIG.format(prefix=self.prefix, servers=servers, port=self.port))
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "stderr.log").open("ab"),
        )
        wait_until(self._answers, timeout=15, what=f"nginx on {self.url}")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"nginx exited: {(self.prefix / 'stderr.log').read_text(errors='replace')}")
        try:
            return httpx.get(self.url + "/health", timeout=2, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
