"""``GET|POST /{phone-number-id}/settings``: the number's ``calling`` object, as on Meta's "Configure Call
Settings" page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge.emulator.graph_common import authorized_number, json_object

router = APIRouter()


@router.get("/{version}/{phone_number_id}/settings")
async def get_settings(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = authorized_number(request, version, phone_number_id)
    return JSONResponse({"calling": number.calling.view()})


@router.post("/{version}/{phone_number_id}/settings")
async def update_settings(request: Request, version: str, phone_number_id: str) -> JSONResponse:
    number = authorized_number(request, version, phone_number_id)
    body = await json_object(request, messaging_product=False)  # Meta's settings body has no messaging_product
    if "calling" in body:
        number.calling.update(body["calling"])
    return JSONResponse({"success": True})
