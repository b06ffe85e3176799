"""What every Graph API route of the emulator shares: the version and token checks, the JSON body, the world."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from callbridge.emulator.errors import EmulatorError, calling_not_enabled, graph_error_body, invalid
from callbridge.emulator.model import Number
from callbridge.emulator.world import World

_VERSION = re.compile(r"^v\d+\.\d+$")


def graph_error_response(exc: EmulatorError) -> JSONResponse:
    return JSONResponse(graph_error_body(exc, secrets.token_urlsafe(12)), status_code=exc.status)


def world_of(request: Request) -> World:
    world: World = request.app.state.world
    return world


def authorized_number(request: Request, version: str, phone_number_id: str) -> Number:
    if not _VERSION.match(version):
        raise EmulatorError(400, 2500, f"Unknown path components: /{version}/{phone_number_id}")
    number = world_of(request).number(phone_number_id)
    header = request.headers.get("Authorization", "")
    if not header:
        raise EmulatorError(
            400, 2500, "An active access token must be used to query information about the current user."
        )
    if not secrets.compare_digest(header.encode(), f"Bearer {number.access_token}".encode()):
        raise EmulatorError(401, 190, "Invalid OAuth access token - Cannot parse access token")
    return number


def calling_number(request: Request, version: str, phone_number_id: str) -> Number:
    """An authorized number whose calling is enabled (else Meta's 138000)."""
    number = authorized_number(request, version, phone_number_id)
    if not number.calling.enabled:
        raise calling_not_enabled()
    return number


async def json_object(request: Request, messaging_product: bool = True) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise invalid("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if messaging_product and body.get("messaging_product") != "whatsapp":
        raise invalid("messaging_product must be 'whatsapp'")
    return body
