"""/call/play*, /call/record*, /call/stats: files into a call, a call into WAV, and how its media is doing."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from callbridge.api.auth import gateway, session_auth
from callbridge.api.envelope import ok
from callbridge.api.models import CallIDRequest, PlayRequest, RecordRequest
from callbridge.api.routes.calls import query_param
from callbridge.errors import InvalidRequest
from callbridge.store.models import SessionRow

router = APIRouter(prefix="/call", tags=["playback and recording"])


@router.post("/play", summary="Play a file into the call (queued behind what is playing); the live voice is mixed in")
async def play(request: Request, body: PlayRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    player_id, seconds, ahead = await gateway(request).calls.play(session, body.call_id, body.audio_file)
    return ok({"PlayerID": player_id, "Seconds": seconds, "Queued": ahead})


@router.post("/play/stop", summary="Stop the file playing and empty the queue")
async def stop_play(request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    stopped = await gateway(request).calls.stop_playback(session, body.call_id)
    return ok({"details": "playback stopped" if stopped else "nothing was playing"})


@router.post("/record", summary="Record what WhatsApp sends (and, with Stereo, the browser) to a WAV file")
async def record(request: Request, body: RecordRequest, session: SessionRow = Depends(session_auth)) -> JSONResponse:
    path = await gateway(request).calls.record(session, body.call_id, body.path, body.sample_rate, body.stereo)
    return ok({"Path": path, "SampleRate": body.sample_rate, "Stereo": body.stereo})


@router.post("/record/stop", summary="Finish the recording")
async def stop_record(
    request: Request, body: CallIDRequest, session: SessionRow = Depends(session_auth)
) -> JSONResponse:
    path, seconds = await gateway(request).calls.stop_recording(session, body.call_id)
    return ok({"Path": path, "Seconds": seconds})


@router.get("/stats", summary="Media statistics of a live call: jitter buffers, frames sent")
async def stats(
    request: Request,
    session: SessionRow = Depends(session_auth),
    call_id: str | None = Query(None, alias="CallID"),
) -> JSONResponse:
    call_id = call_id or query_param(request, "CallID")
    if not call_id:
        raise InvalidRequest("missing CallID in query")
    return ok({"CallID": call_id, "legs": await gateway(request).calls.media_stats(session, call_id)})
