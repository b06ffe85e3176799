"""Provisioning over the public HTTP API, as an app does it: an emulated business number, a gateway session
bound to it, its webhook, and virtual users. Each step takes an httpx client whose base URL is the server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import httpx

from .responses import expect_ok

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class BusinessNumber:
    """A WhatsApp Business number and its Cloud API credentials: what Meta (the emulator) knows of it, and what a
    gateway session needs to use it."""

    phone_number_id: str
    display_phone_number: str = "+1 555 010 0000"
    access_token: str = "testing-access-token"
    app_secret: str = "testing-app-secret"
    verify_token: str = "testing-verify-token"

    def cloud(self, graph_url: str) -> dict[str, str]:
        """The session's ``Cloud`` object, pointing the gateway's connector at ``graph_url`` (the emulator)."""
        return {
            "PhoneNumberID": self.phone_number_id,
            "AccessToken": self.access_token,
            "AppSecret": self.app_secret,
            "VerifyToken": self.verify_token,
            "GraphURL": graph_url,
        }

    def on_emulator(self, webhook_url: str, scramble_webhooks: bool = False) -> dict[str, Any]:
        """The body of ``POST /emulator/numbers``: Meta will send this number's webhooks to ``webhook_url``."""
        return {
            "phone_number_id": self.phone_number_id,
            "display_phone_number": self.display_phone_number,
            "access_token": self.access_token,
            "app_secret": self.app_secret,
            "verify_token": self.verify_token,
            "webhook_url": webhook_url,
            "scramble_webhooks": scramble_webhooks,
        }


def register_number(
    emulator: httpx.Client, number: BusinessNumber, gateway_url: str, scramble_webhooks: bool = False
) -> None:
    """Make the number known to the emulator, its Meta webhooks going to the gateway at ``gateway_url``."""
    body = number.on_emulator(f"{gateway_url}/whatsapp/webhook", scramble_webhooks)
    expect_ok(emulator.post("/emulator/numbers", json=body))


def add_user(emulator: httpx.Client, wa_id: str, **behaviour: Any) -> str:
    """A virtual WhatsApp user (``say="tone:440"``, ``answer_after_ms=0``, ``reject=True``...); returns ``wa_id``."""
    expect_ok(emulator.post("/emulator/users", json={"wa_id": wa_id, **behaviour}))
    return wa_id


def init_session(
    gateway: httpx.Client, admin_token: str, name: str, token: str, cloud: Mapping[str, str], replace: bool = False
) -> None:
    """``POST /session/init``. With ``replace``, a session already holding ``token`` is deleted first."""
    admin = {"admintoken": admin_token}
    body = {"Name": name, "Token": token, "Cloud": dict(cloud)}
    r = gateway.post("/session/init", headers=admin, json=body)
    if r.status_code == 409 and replace:  # e.g. a previous run's session, bound to an emulator that is gone
        expect_ok(gateway.post("/session/delete", headers={**admin, "token": token}))
        r = gateway.post("/session/init", headers=admin, json=body)
    expect_ok(r)


def connect_session(gateway: httpx.Client, token: str, subscribe: Sequence[str] = ("All",)) -> None:
    """``POST /session/connect``: the gateway verifies the credentials and starts handling calls."""
    expect_ok(gateway.post("/session/connect", headers={"token": token}, json={"Subscribe": list(subscribe)}))


def set_webhook(gateway: httpx.Client, token: str, url: str, secret: str | None = None) -> None:
    """``POST /webhook``: where the session's events go (and their signing secret, generated when None)."""
    body = {"WebhookURL": url, **({"Secret": secret} if secret else {})}
    expect_ok(gateway.post("/webhook", headers={"token": token}, json=body))


def provision(
    gateway_url: str,
    emulator_url: str,
    admin_token: str,
    number: BusinessNumber,
    token: str,
    *,
    name: str | None = None,
    subscribe: Sequence[str] = ("All",),
    webhook_url: str | None = None,
    users: Iterable[Mapping[str, Any]] = (),
    scramble_webhooks: bool = False,
    replace: bool = False,
) -> None:
    """Everything between a started emulator and gateway and a first call: the number on the emulator, a
    session (``token``, named ``name`` or ``token``) bound to it and connected, its webhook if given, and
    ``users`` (dicts with ``wa_id`` and behaviour) on the emulator."""
    with (
        httpx.Client(base_url=emulator_url, timeout=30.0, trust_env=False) as emulator,
        httpx.Client(base_url=gateway_url, timeout=30.0, trust_env=False) as gateway,
    ):
        register_number(emulator, number, gateway_url, scramble_webhooks)
        for user in users:
            add_user(emulator, **user)
        init_session(gateway, admin_token, name or token, token, number.cloud(emulator_url), replace)
        connect_session(gateway, token, subscribe)
        if webhook_url is not None:
            set_webhook(gateway, token, webhook_url)


def _in_a_thread(function: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    async def threaded(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(function, *args, **kwargs)

    return threaded


provision_async = _in_a_thread(provision)
provision_async.__doc__ = """:func:`provision`, awaitable: it runs in a thread, so the gateway and the emulator may
be served by the caller's own event loop (as in `callbridge demo`)."""
