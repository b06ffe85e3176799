"""/call/autoanswer: a session's voice-bot auto-answer (incoming calls accepted at once and streamed to a bot)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import Sessions, SettingsDep
from callbridge.api.envelope import ok
from callbridge.api.models import AutoAnswerRequest
from callbridge.api.openapi import Envelope, errors
from callbridge.api.routes.streams import check_entries, parse_format, parse_url
from callbridge.api.schemas import AutoAnswerView
from callbridge.calls.autoanswer import AutoAnswerSetting
from callbridge.errors import InvalidRequest
from callbridge.files import audio_file

router = APIRouter(prefix="/call/autoanswer", tags=["voice-bot streams"])


@router.get(
    "",
    summary="The session's auto-answer setting",
    response_model=Envelope[AutoAnswerView],
    responses=errors(401),
)
async def show(session: Session) -> JSONResponse:
    return ok(AutoAnswerSetting.of(session).view())


@router.post(
    "",
    summary="Answer incoming calls at once and hand each to a new voice-bot stream (Enabled: false stops it)",
    response_model=Envelope[AutoAnswerView],
    responses=errors(400, 401, 404, 408, 413),
)
async def change(body: AutoAnswerRequest, session: Session, sessions: Sessions, settings: SettingsDep) -> JSONResponse:
    if body.enabled and body.stream is None:
        raise InvalidRequest("Stream (with its URL) is required to enable auto-answer")
    stream = None
    if body.stream is not None:
        stream = {
            "URL": parse_url(body.stream.url),
            "Format": parse_format(body.stream.format),
            "CustomParameters": check_entries("CustomParameters", body.stream.custom_parameters, header_names=False),
        }
    if body.announce:
        audio_file(settings.files_dir, body.announce)  # it must be there now, not only when a call comes
    stored = {"Enabled": body.enabled, "Stream": stream, "Announce": body.announce or None}
    row = await sessions.update(session.id, autoanswer=stored)
    return ok(AutoAnswerSetting.of(row).view())
