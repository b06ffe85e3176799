"""/files: the playable files and the session's recordings, to list, download (with Range, so a player can seek)
and delete. Names are paths relative to the files directory, confined to it as AudioFile and Path are."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from callbridge.api.auth import Session
from callbridge.api.deps import FilesDep, query_param
from callbridge.api.envelope import ok
from callbridge.api.openapi import Envelope, errors, json_errors
from callbridge.api.schemas import FileDeleted, FileList
from callbridge.errors import InvalidRequest
from callbridge.file_library import MEDIA_TYPES
from callbridge.files import normalized

router = APIRouter(tags=["files"])

KINDS = ("audio", "recordings")
_AUDIO = {"schema": {"type": "string", "format": "binary"}}
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {"description": "the whole file", "content": {media: _AUDIO for media in sorted(set(MEDIA_TYPES.values()))}},
    206: {
        "description": "the part a Range header asked for (Content-Range says which)",
        "content": {media: _AUDIO for media in sorted(set(MEDIA_TYPES.values()))},
    },
}


@router.get(
    "/files",
    summary="List the playable files (Kind=audio, the default: .mp3 .wav .opus .ogg under the files dir) or the"
    " recordings of this session's calls (Kind=recordings, newest first, with their CallID)",
    response_model=Envelope[FileList],
    responses=errors(400, 401),
)
async def list_files(
    request: Request,
    session: Session,
    files: FilesDep,
    kind: str | None = Query(None, alias="Kind", description="audio (the default) or recordings"),
) -> JSONResponse:
    kind = (kind or query_param(request, "Kind") or "audio").lower()
    if kind not in KINDS:
        raise InvalidRequest(f"unknown Kind {kind[:32]!r}: use audio or recordings")
    entries = await (files.recordings(session.id) if kind == "recordings" else files.audio(session.id))
    return ok({"files": [entry.view() for entry in entries]})


@router.get(
    "/files/{path:path}",
    summary="Download a file (path relative to the files dir); Range requests get 206, so a player can seek",
    response_class=FileResponse,
    responses={**DOWNLOAD, **json_errors(400, 401, 404)},
)
async def download(path: str, session: Session, files: FilesDep) -> FileResponse:
    found = await files.path(session.id, path)
    name = normalized(path).rsplit("/", 1)[-1]
    # inline: an <audio src> plays it and a link opens it; the name is what "save as" proposes
    return FileResponse(found, media_type=files.media_type(found), filename=name, content_disposition_type="inline")


@router.delete(
    "/files/{path:path}",
    summary="Delete a file; for a recording its record goes too (409 while it is being recorded)",
    response_model=Envelope[FileDeleted],
    responses=errors(400, 401, 404, 408, 409, 413),
)
async def delete_file(path: str, session: Session, files: FilesDep) -> JSONResponse:
    recording = await files.delete(session.id, path)
    return ok({"Name": normalized(path), "Recording": recording})
