"""/admin/*: operator views, such as webhook events that could not be delivered."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from callbridge.api.auth import admin_auth
from callbridge.api.deps import OutboxAdminDep
from callbridge.api.envelope import ok
from callbridge.api.models import WaGoModel
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import Details, OutboxEvents
from callbridge.api.views import outbox_view
from callbridge.errors import NotFound

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_auth)])


class OutboxRetryRequest(WaGoModel):
    event_id: str = Field(alias="EventID", min_length=1, max_length=64)


@router.get(
    "/outbox",
    summary="Webhook events by status: pending, delivered or dead",
    response_model=Envelope[OutboxEvents],
    responses=errors(400, 401),
)
async def outbox(
    admin: OutboxAdminDep,
    status: Literal["pending", "delivered", "dead"] = Query("dead"),
    limit: int = Query(100, ge=1, le=1000),
) -> JSONResponse:
    return ok({"events": [outbox_view(row) for row in await admin.events(status, limit)]})


@router.post(
    "/outbox/retry",
    summary="Queue a dead event for delivery again (its give-up clock restarts)",
    response_model=Envelope[Details],
    responses=errors(400, 401, 404, 408, 413),
)
async def retry(body: OutboxRetryRequest, admin: OutboxAdminDep) -> JSONResponse:
    if not await admin.retry(body.event_id):
        raise NotFound("no dead event has that EventID")
    return ok({"details": "queued"})
