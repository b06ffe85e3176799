"""callbridge's testing kit: the emulator and a gateway as real processes on 127.0.0.1, provisioned over the
public HTTP API, for your own tests and CI (any test runner; this package imports no test framework).

    with Emulator(tmp) as emulator, Gateway(tmp, ice_hosts="127.0.0.1") as gateway, WebhookReceiver() as app:
        scene = Scene(gateway, emulator, app).setup()
        call_id = scene.make_call(scene.user(say="tone:440", answer_after_ms=0))
        scene.wait_state(call_id, "active")
"""

from .emulator import Emulator
from .gateway import DEFAULT_ADMIN_TOKEN, Gateway
from .postgres import throwaway_database
from .provisioning import (
    BusinessNumber,
    add_user,
    connect_session,
    init_session,
    provision,
    provision_async,
    register_number,
    set_webhook,
)
from .receiver import Delivery, WebhookReceiver, verify_signature
from .responses import RequestRefused, expect_ok
from .scene import Scene
from .server_process import ServerProcess, clean_environment
from .waiting import free_port, wait_until

__all__ = [
    "DEFAULT_ADMIN_TOKEN",
    "BusinessNumber",
    "Delivery",
    "Emulator",
    "Gateway",
    "RequestRefused",
    "Scene",
    "ServerProcess",
    "WebhookReceiver",
    "add_user",
    "clean_environment",
    "connect_session",
    "expect_ok",
    "free_port",
    "init_session",
    "provision",
    "provision_async",
    "register_number",
    "set_webhook",
    "throwaway_database",
    "verify_signature",
    "wait_until",
]
