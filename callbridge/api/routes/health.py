"""/health: is the gateway up, and can it reach its database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge import __version__
from callbridge.api.auth import gateway
from callbridge.api.envelope import error_response, ok

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and dependencies (no auth)")
async def health(request: Request) -> JSONResponse:
    try:
        await gateway(request).db.ping()
    except Exception as exc:
        return error_response(503, f"database unreachable: {type(exc).__name__}")
    return ok({"status": "ok", "version": __version__, "database": "ok"})
