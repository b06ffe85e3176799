"""A scene: one business number on the emulator, its session on the gateway, the app's webhook receiver, and
the virtual users of a test, with the app's-eye helpers a test needs."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from .emulator import Emulator
from .gateway import Gateway
from .provisioning import BusinessNumber, add_user, connect_session, init_session, register_number, set_webhook
from .receiver import WebhookReceiver
from .responses import expect_ok
from .waiting import wait_until

_ids = itertools.count(1)  # with the pid: numbers, tokens and users unique across scenes sharing servers


@dataclass
class Scene:
    """Build with ``Scene(gateway, emulator, receiver).setup()``; many scenes may share the same servers.
    Without a receiver the session gets no webhook (and :meth:`events` is unavailable)."""

    gateway: Gateway
    emulator: Emulator
    receiver: WebhookReceiver | None = None
    token: str = ""
    phone_number_id: str = ""
    app_secret: str = "scene-app-secret"
    users: list[str] = field(default_factory=list)

    def setup(self, scramble: bool = False, subscribe: tuple[str, ...] = ("All",)) -> Self:
        """Provision a fresh number and a connected session; ``scramble`` has the emulator deliver each call's
        Meta webhooks reversed and twice."""
        n = next(_ids)
        self.phone_number_id = f"30000{os.getpid()}{n:04d}"
        self.token = f"scene-token-{os.getpid()}-{n}"
        number = BusinessNumber(
            self.phone_number_id,
            display_phone_number=f"+1 555 {n:03d} 0000",
            access_token=f"access-{n}",
            app_secret=self.app_secret,
            verify_token=f"verify-{n}",
        )
        register_number(self.emulator.client, number, self.gateway.url, scramble)
        cloud = number.cloud(self.emulator.url)
        init_session(self.gateway.client, self.gateway.admin_token, f"scene-{n}", self.token, cloud)
        connect_session(self.gateway.client, self.token, subscribe)
        if self.receiver is not None:
            set_webhook(self.gateway.client, self.token, self.receiver.url)
        return self

    def user(self, **behaviour: Any) -> str:
        """A new virtual WhatsApp user (``say="tone:440"``, ``answer_after_ms=0``...); returns their number."""
        wa_id = add_user(self.emulator.client, f"1555{os.getpid() % 10000:04d}{next(_ids):05d}", **behaviour)
        self.users.append(wa_id)
        return wa_id

    # The gateway, as this scene's app uses it.
    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` to the gateway with this scene's session token; the response as it came."""
        return self.gateway.post(path, token=self.token, json=body)

    def make_call(self, phone: str) -> str:
        """Call ``phone`` (``POST /call/make``); returns the CallID."""
        call_id: str = expect_ok(self.post("/call/make", {"Phone": phone})).json()["data"]["call"]["CallID"]
        return call_id

    def call_status(self, call_id: str) -> dict[str, Any]:
        """The gateway's Call object (``State``, ``EndReason``, ``Duration``...), live or ended."""
        r = expect_ok(self.gateway.get("/call/status", token=self.token, params={"CallID": call_id}))
        call: dict[str, Any] = r.json()["data"]["call"]
        return call

    def wait_state(self, call_id: str, state: str, timeout: float = 15) -> dict[str, Any]:
        """Wait until the call is in ``state`` (``ringing``, ``active``, ``ended``) at the gateway; its Call."""

        def reached() -> dict[str, Any] | None:
            call = self.call_status(call_id)
            return call if call["State"] == state else None

        return wait_until(reached, timeout=timeout, what=f"call {call_id} to be {state}")

    # The WhatsApp side.
    def user_calls(self, wa_id: str) -> str:
        """The user calls this scene's business number; returns the CallID."""
        r = expect_ok(self.emulator.client.post(f"/emulator/users/{wa_id}/call", json={"to": self.phone_number_id}))
        call_id: str = r.json()["call_id"]
        return call_id

    def heard(self, call_id: str, last: float | None = None) -> dict[str, Any]:
        """What the user heard: ``seconds``, ``dominant_hz``, ``rms_dbfs``, ``peaks_hz`` (of the last ``last`` s)."""
        heard: dict[str, Any] = self.emulator.call(call_id, last)["heard"]
        return heard

    # The app's webhook.
    def events(self, call_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Events the app received (deduplicated by EventID), as dicts of the event with its ``type``."""
        if self.receiver is None:
            raise RuntimeError("this scene has no webhook receiver")
        return [
            {"type": d.type, **d.event}
            for d in self.receiver.accepted()
            if (call_id is None or d.event.get("CallID") == call_id) and (kind is None or d.type == kind)
        ]

    def wait_event(self, call_id: str | None, kind: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        """Wait for an event of type ``kind`` (of ``call_id`` unless None) whose fields equal ``match``."""

        def found() -> dict[str, Any] | None:
            for event in self.events(call_id, kind):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            return None

        return wait_until(found, timeout=timeout, what=f"{kind} {match} for {call_id}")
