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
    gw = gateway(request)
    try:
        await gw.db.ping()
    except Exception as exc:
        return error_response(503, f"database unreachable: {type(exc).__name__}")
    # A failing TURN server degrades browser audio behind strict NATs; the gateway itself is up.
    status = "degraded" if gw.turn.status == "failed" else "ok"
    return ok({"status": status, "version": __version__, "database": "ok", "turn": gw.turn.as_dict()})
