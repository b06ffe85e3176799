"""The emulator as a real process on 127.0.0.1, and a scene builder on top of it."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import GatewayProcess
from tests.support.net import free_port, wait_until
from tests.support.receiver import Receiver

_ids = itertools.count(1)


class EmulatorProcess:
    def __init__(self, workdir: Path, *flags: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.flags = flags
        self.log_path = workdir / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)

    def start(self) -> EmulatorProcess:
        (self.workdir / "files").mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callbridge",
                "emulator",
                "--emulator-port",
                str(self.port),
                "--files-dir",
                str(self.workdir / "files"),
                "--log-level",
                "DEBUG",
                *self.flags,
            ],
            cwd=self.workdir,
            env=dict(os.environ),
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(self._up, timeout=30, what=f"the emulator on {self.url}")
        return self

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"emulator exited: {self.log_path.read_text()[-3000:]}")
        try:
            return self.client.get("/emulator/calls").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.client.close()

    def call(self, call_id: str, last: float | None = None) -> dict[str, Any]:
        r = self.client.get(f"/emulator/calls/{call_id}", params={"last": last} if last else None)
        assert r.status_code == 200, r.text
        return r.json()


@dataclass
class Scene:
    """One business number on the emulator, its session on the gateway, and a webhook receiver."""

    gateway: GatewayProcess
    emulator: EmulatorProcess
    receiver: Receiver
    token: str = ""
    phone_number_id: str = ""
    app_secret: str = "scene-app-secret"
    users: list[str] = field(default_factory=list)

    def setup(self, scramble: bool = False, subscribe: tuple[str, ...] = ("All",)) -> Scene:
        n = next(_ids)
        self.phone_number_id = f"30000{os.getpid()}{n:04d}"
        self.token = f"scene-token-{os.getpid()}-{n}"
        number = {
            "phone_number_id": self.phone_number_id,
            "display_phone_number": f"+1 555 {n:03d} 0000",
            "access_token": f"access-{n}",
            "app_secret": self.app_secret,
            "verify_token": f"verify-{n}",
            "webhook_url": f"{self.gateway.url}/whatsapp/webhook",
            "scramble_webhooks": scramble,
        }
        assert self.emulator.client.post("/emulator/numbers", json=number).status_code == 200
        cloud = {
            "PhoneNumberID": self.phone_number_id,
            "AccessToken": f"access-{n}",
            "AppSecret": self.app_secret,
            "VerifyToken": f"verify-{n}",
            "GraphURL": self.emulator.url,
        }
        r = self.gateway.post(
            "/session/init", admin=True, json={"Name": f"scene-{n}", "Token": self.token, "Cloud": cloud}
        )
        assert r.status_code == 200, r.text
        r = self.gateway.post("/session/connect", token=self.token, json={"Subscribe": list(subscribe)})
        assert r.status_code == 200, r.text
        r = self.gateway.post("/webhook", token=self.token, json={"WebhookURL": self.receiver.url})
        assert r.status_code == 200, r.text
        return self

    def user(self, **behaviour: Any) -> str:
        wa_id = f"1555{os.getpid() % 10000:04d}{next(_ids):05d}"
        r = self.emulator.client.post("/emulator/users", json={"wa_id": wa_id, **behaviour})
        assert r.status_code == 200, r.text
        self.users.append(wa_id)
        return wa_id

    # The gateway, as this scene's app uses it.
    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.gateway.post(path, token=self.token, json=body)

    def call_status(self, call_id: str) -> dict[str, Any]:
        r = self.gateway.get("/call/status", token=self.token, params={"CallID": call_id})
        assert r.status_code == 200, r.text
        return r.json()["data"]["call"]

    def user_calls(self, wa_id: str) -> str:
        r = self.emulator.client.post(f"/emulator/users/{wa_id}/call", json={"to": self.phone_number_id})
        assert r.status_code == 200, r.text
        return r.json()["call_id"]

    def events(self, call_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Events the app received (deduplicated by EventID), as (type, event) dicts."""
        return [
            {"type": d.type, **d.event}
            for d in self.receiver.accepted()
            if (call_id is None or d.event.get("CallID") == call_id) and (kind is None or d.type == kind)
        ]

    def wait_event(self, call_id: str | None, kind: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for event in self.events(call_id, kind):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            return None

        return wait_until(found, timeout=timeout, what=f"{kind} {match} for {call_id}")
