"""`callbridge demo`: the gateway and the emulator in one process, a demo session, and a first call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
import uvicorn

from callbridge.api.server import server_config
from callbridge.app import create_app
from callbridge.config import Settings
from callbridge.emulator.app import EmulatorSettings, create_emulator_app
from callbridge.testing import BusinessNumber, provision_async

log = logging.getLogger(__name__)

DEMO_NUMBER = BusinessNumber(
    "100000000000001",
    display_phone_number="+1 555 010 0000",
    access_token="demo-access-token",
    app_secret="demo-app-secret",
    verify_token="demo-verify-token",
)
DEMO_USERS: list[dict[str, Any]] = [
    {"wa_id": "15550001001", "name": "Alice (says 440 Hz)", "say": "tone:440", "answer_after_ms": 1000},
    {"wa_id": "15550001002", "name": "Bob (echoes you)", "say": "echo", "answer_after_ms": 1000},
    {"wa_id": "15550001003", "name": "Carol (rejects)", "reject": True, "answer_after_ms": 1500},
    {"wa_id": "15550001004", "name": "Dave (no permission yet)", "permission": "no_permission"},
]


def _server(app: Any, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
            raise RuntimeError("server stopped before it started")
        await asyncio.sleep(0.05)


async def provision(gateway_url: str, emulator_url: str, admin_token: str, token: str) -> None:
    """Set the scene over HTTP, exactly as a user would: an emulated number, its session, virtual users."""
    # replace: a previous demo's session is bound to an emulator that is gone; start afresh with this run's.
    await provision_async(
        gateway_url, emulator_url, admin_token, DEMO_NUMBER, token, name="demo", users=DEMO_USERS, replace=True
    )


async def first_call(gateway_url: str, emulator_url: str, token: str) -> None:
    """Call Alice, listen to what she hears for a few seconds, hang up, and show the call record."""
    headers = {"token": token}
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=30, trust_env=False) as http:
        phone = DEMO_USERS[0]["wa_id"]
        print(f'\n→ POST /call/make {{"Phone": "{phone}"}}')
        call = (await http.post("/call/make", json={"Phone": phone})).json()["data"]["call"]
        print(f"  {call['CallID'][:24]}… {call['State']}")
        for _ in range(100):
            await asyncio.sleep(0.1)
            call = (await http.get("/call/status", params={"CallID": call["CallID"]})).json()["data"]["call"]
            if call["State"] != "ringing":
                break
        print(f"  answered: {call['State']}")
        await asyncio.sleep(4)
        async with httpx.AsyncClient(trust_env=False) as emulator:
            seen = (await emulator.get(f"{emulator_url}/emulator/calls/{call['CallID']}")).json()
        heard = seen["heard"]
        level = f"{heard['seconds']} s of audio at {heard['rms_dbfs']} dBFS"
        print(f"  Alice heard {level}: silence, as nobody is talking on our side yet")
        print("→ POST /call/end")
        call = (await http.post("/call/end", json={"CallID": call["CallID"]})).json()["data"]["call"]
        print(f"  {call['State']}: {call['EndReason']}, {call['Duration']} s\n")


def print_guide(gateway_url: str, emulator_url: str, token: str) -> None:
    users = "\n".join(f"    {u['wa_id']}  {u['name']}" for u in DEMO_USERS)
    # The emulator's control API reads JSON: say so, as curl -d sends a form's content type by default.
    alice_calls = (
        f"curl -s -XPOST {emulator_url}/emulator/users/15550001001/call -H 'Content-Type: application/json'"
        f' -d \'{{"to": "{DEMO_NUMBER.phone_number_id}"}}\''
    )
    print(
        f"""callbridge demo is running.

  Softphone {gateway_url}/?token={token}   (open it in a browser on this machine)
  Gateway   {gateway_url}   (API docs: {gateway_url}/docs)
  Emulator  {emulator_url}   (stands in for Meta and WhatsApp users)
  Session token: {token}

  Virtual users you can call:
{users}

  Try:
    curl -s -XPOST {gateway_url}/call/make -H 'token: {token}' -d '{{"Phone": "15550001003"}}'
    curl -s {gateway_url}/call/status -H 'token: {token}'
    {alice_calls}
        (then /call/accept with the CallID that /call/status shows ringing)

  Ctrl-C stops everything.""",
        flush=True,
    )


async def run_demo(settings: Settings, admin_token: str) -> None:
    if "webhook_allow_private" not in settings.model_fields_set:  # the demo's apps run on this machine
        settings = settings.model_copy(update={"webhook_allow_private": True})
    gateway = uvicorn.Server(server_config(create_app(settings, admin_token), settings, settings.host, settings.port))
    emulator_settings = EmulatorSettings(
        host=settings.emulator_host, port=settings.emulator_port, files_dir=settings.files_dir
    )
    emulator = _server(create_emulator_app(emulator_settings), settings.emulator_host, settings.emulator_port)
    tasks = [asyncio.create_task(emulator.serve()), asyncio.create_task(gateway.serve())]
    gateway_url = f"http://{settings.host}:{settings.port}"
    emulator_url = f"http://{settings.emulator_host}:{settings.emulator_port}"
    try:
        await _wait_started(emulator, tasks[0])
        await _wait_started(gateway, tasks[1])
        await provision(gateway_url, emulator_url, admin_token, settings.demo_token)
        print_guide(gateway_url, emulator_url, settings.demo_token)
        await first_call(gateway_url, emulator_url, settings.demo_token)
        await asyncio.gather(*tasks)
    finally:
        for server in (gateway, emulator):
            server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
