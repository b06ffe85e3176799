"""/admin/*: operator views, such as webhook events that could not be delivered."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select, update

from callbridge.api.auth import admin_auth, gateway
from callbridge.api.envelope import ok
from callbridge.api.models import WaGoModel
from callbridge.api.views import outbox_view
from callbridge.errors import NotFound
from callbridge.store.models import OutboxRow
from callbridge.store.types import utcnow

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_auth)])


class OutboxRetryRequest(WaGoModel):
    event_id: str = Field(alias="EventID", min_length=1, max_length=64)


@router.get("/outbox", summary="Webhook events by status: pending, delivered or dead")
async def outbox(
    request: Request,
    status: Literal["pending", "delivered", "dead"] = Query("dead"),
    limit: int = Query(100, ge=1, le=1000),
) -> JSONResponse:
    query = select(OutboxRow).where(OutboxRow.status == status).order_by(OutboxRow.id.desc()).limit(limit)
    async with gateway(request).db.session() as s:
        rows = list(await s.scalars(query))
    return ok({"events": [outbox_view(row) for row in rows]})


@router.post("/outbox/retry", summary="Queue a dead event for delivery again (its give-up clock restarts)")
async def retry(request: Request, body: OutboxRetryRequest) -> JSONResponse:
    gw = gateway(request)
    now = utcnow()
    async with gw.db.session() as s:
        result = await s.execute(
            update(OutboxRow)
            .where(OutboxRow.event_id == body.event_id, OutboxRow.status == "dead")
            .values(status="pending", attempts=0, created_at=now, next_attempt_at=now, last_error=None)
        )
        await s.commit()
    if result.rowcount == 0:
        raise NotFound("no dead event has that EventID")
    gw.dispatcher.notify()
    return ok({"details": "queued"})
