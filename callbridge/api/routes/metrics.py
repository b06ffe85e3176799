"""``GET /metrics``: Prometheus' text format (not WaGo's envelope), for the admin token, or for anyone when
``CALLBRIDGE_METRICS_PUBLIC`` is set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from callbridge.api.auth import admin_auth, admin_header
from callbridge.api.deps import AdminToken, SettingsDep, gateway_of
from callbridge.api.openapi import json_errors
from callbridge.metrics.scrape import CONTENT_TYPE, Metrics

router = APIRouter(tags=["admin"])


def _metrics(request: Request) -> Metrics:
    return gateway_of(request).metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics: calls, endpoints, media, webhooks, Graph API, event loop, node (admin token, or"
    " anyone with CALLBRIDGE_METRICS_PUBLIC)",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
        **json_errors(401),
    },
)
async def metrics(
    scrape: Annotated[Metrics, Depends(_metrics)],
    settings: SettingsDep,
    expected: AdminToken,
    header: Annotated[str | None, Depends(admin_header)],
) -> Response:
    if not settings.metrics_public:
        await admin_auth(expected, header)
    return Response(await scrape.render(), media_type=CONTENT_TYPE)
