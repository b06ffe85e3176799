"""/call/transfer and /call/hold: handing the WhatsApp user to another agent, and putting them on hold.

Warm transfer needs no route of its own: the next agent attaches as a talker under a new endpointID, talks to
both, and the first closes. Blind transfer detaches the talkers at once and hands out a token for the next one.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Calls, CallTokenKey, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import HoldRequest, TransferRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.routes.webrtc import mint_call_token
from callbridge.api.schemas import Held, Transferred
from callbridge.files import audio_file
from callbridge.media.endpoint import Role

router = APIRouter(prefix="/call", tags=["transfer and hold"])


@router.post(
    "/transfer",
    summary="Blind transfer: the talkers are detached, call tokens minted before are retired, and the WhatsApp"
    " user hears HoldAudio (or silence) until the next talker attaches with the call token returned",
    response_model=Envelope[Transferred],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def transfer(
    body: TransferRequest, session: Session, calls: Calls, key: CallTokenKey, settings: SettingsDep
) -> JSONResponse:
    media = await calls.active_media(session, body.call_id)
    hold = audio_file(settings.files_dir, body.hold_audio) if body.hold_audio else None
    detached = await media.transfer(hold, body.hold_audio or "")
    grant = mint_call_token(key, session.id, body.call_id, settings.call_token_ttl, Role.TALK, media.generation)
    return ok({**grant, "Detached": detached})


@router.post(
    "/hold",
    summary="Hold (On: true) cuts the WhatsApp user and the endpoints off from each other, the user hearing"
    " HoldAudio on a loop; On: false resumes",
    response_model=Envelope[Held],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def hold(body: HoldRequest, session: Session, calls: Calls, settings: SettingsDep) -> JSONResponse:
    media = await calls.active_media(session, body.call_id)
    audio = audio_file(settings.files_dir, body.hold_audio) if body.hold_audio and body.on else None
    await media.hold(body.on, audio, body.hold_audio or "")
    return ok({"CallID": body.call_id, "Held": body.on})
