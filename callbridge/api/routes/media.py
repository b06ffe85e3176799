"""/call/play*, /call/record*, /call/stats: files into a call, a call into WAV, and how its media is doing.

The commands go to the call's media directly; the call service only finds it (and refuses calls not active).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Calls, RequiredCallIDQuery, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import CallIDRequest, PlayRequest, RecordRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.schemas import Details, MediaStats, Playing, Recording, RecordingDone
from callbridge.errors import Conflict, InvalidRequest
from callbridge.files import as_wago, audio_file, new_recording, normalized

router = APIRouter(prefix="/call", tags=["playback and recording"])


@router.post(
    "/play",
    summary="Play a file into the call (queued behind what is playing), To all (the WhatsApp user and every"
    " endpoint) or to the WhatsApp user only; the live voices are mixed in",
    response_model=Envelope[Playing],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def play(body: PlayRequest, session: Session, calls: Calls, settings: SettingsDep) -> JSONResponse:
    if body.to.lower() not in ("all", "whatsapp"):
        raise InvalidRequest(f"unknown To {body.to[:32]!r}: use all or whatsapp")
    media = await calls.active_media(session, body.call_id)
    path = audio_file(settings.files_dir, body.audio_file)
    track, ahead = await media.play(path, body.audio_file, to_all=body.to.lower() == "all")
    return ok({"PlayerID": track.player_id, "Seconds": track.seconds, "Queued": ahead})


@router.post(
    "/play/stop",
    summary="Stop the file playing and empty the queue",
    response_model=Envelope[Details],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def stop_play(body: CallIDRequest, session: Session, calls: Calls) -> JSONResponse:
    stopped = (await calls.active_media(session, body.call_id)).stop_playback()
    return ok({"details": "playback stopped" if stopped else "nothing was playing"})


@router.post(
    "/record",
    summary="Record the WhatsApp user (and, with Stereo, the talkers and whisperers on the right) to a WAV file,"
    " after a consent announcement if one is set",
    response_model=Envelope[Recording],
    responses=errors(400, 401, 404, 408, 409, 413, 500),
)
async def record(body: RecordRequest, session: Session, calls: Calls, settings: SettingsDep) -> JSONResponse:
    media = await calls.active_media(session, body.call_id)
    requested = body.path or f"calls/{body.call_id}.wav"
    if media.recording.busy:
        raise Conflict("the call is already being recorded; stop that recording first")
    announce = settings.recording_announcement if body.announce is None else body.announce
    notice = (audio_file(settings.files_dir, announce), announce) if announce else None
    path = new_recording(settings.files_dir, requested)  # confine() reads WaGo's files/ prefix, once
    reported = as_wago(normalized(requested))
    await media.start_recording(path, reported, body.sample_rate, body.stereo, announce=notice)
    return ok({"Path": reported, "SampleRate": body.sample_rate, "Stereo": body.stereo, "Announce": announce or None})


@router.post(
    "/record/stop",
    summary="Finish the recording",
    response_model=Envelope[RecordingDone],
    responses=errors(400, 401, 404, 408, 409, 413, 500),
)
async def stop_record(body: CallIDRequest, session: Session, calls: Calls) -> JSONResponse:
    finished = await (await calls.active_media(session, body.call_id)).stop_recording()
    if finished is None:
        raise Conflict("the call is not being recorded")
    recording, seconds = finished
    return ok({"Path": recording.path, "Seconds": seconds})


@router.get(
    "/stats",
    summary="Media statistics of a live call: jitter buffers, frames sent",
    response_model=Envelope[MediaStats],
    responses=errors(400, 401, 404, 409),
)
async def stats(session: Session, calls: Calls, call_id: RequiredCallIDQuery) -> JSONResponse:
    call = await calls.live_call(session, call_id)
    stats = call.media.stats() if call.media is not None else {"legs": {}, "endpoints": {}, "mixes": []}
    return ok({"CallID": call_id, **stats})
