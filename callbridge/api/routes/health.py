"""/health: is the gateway up, and can it reach its database."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callbridge import __version__
from callbridge.api.deps import GatewayDep, query_param
from callbridge.api.envelope import error_response, ok
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import Health
from callbridge.gateway import Gateway
from callbridge.loop_lag import INTERVAL as LAG_INTERVAL
from callbridge.media.lean import selection
from callbridge.process_stats import process_stats

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Liveness and dependencies (no auth)",
    response_model=Envelope[Health],
    responses=errors(503),
)
async def health(request: Request, gw: GatewayDep) -> JSONResponse:
    try:
        await gw.db.ping()
    except Exception as exc:
        return error_response(503, f"database unreachable: {type(exc).__name__}")
    # A failing TURN server degrades browser audio behind strict NATs; the gateway itself is up.
    status = "degraded" if gw.turn.status == "failed" else "ok"
    return ok(
        {
            "status": status,
            "version": __version__,
            "database": "ok",
            "turn": gw.turn.as_dict(),
            "calls": len(gw.calls.live),
            "Node": gw.node_id,
            **({"Nodes": await _nodes(gw)} if gw.registry is not None else {}),
            "loopLagMs": gw.loop_lag.summary(last=_last(request)),
            "mediaPath": selection.selected(),
            "eventLoop": type(asyncio.get_running_loop()).__module__.partition(".")[0],
            "runtime": process_stats(),
        }
    )


async def _nodes(gw: Gateway) -> list[dict[str, object]]:
    """The live nodes of the cluster, as this node sees them."""
    assert gw.registry is not None
    return [
        {"ID": n.id, "URL": n.url, "State": n.state.value, "Calls": n.live_calls, "MaxCalls": n.max_calls}
        for n in await gw.registry.alive()
    ]


def _last(request: Request) -> int | None:
    """``?window=S``: loop lag over the last S seconds only (benchmarks measure steady stretches)."""
    raw = query_param(request, "window")
    if raw is None:
        return None
    try:
        return max(1, int(float(raw) / LAG_INTERVAL))
    except ValueError:
        return None
