"""Auto-answer for voice bots: an incoming call is accepted as soon as it rings and handed to a new bot stream,
without waiting for the app (POST /call/autoanswer sets it per session)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callbridge.calls.model import Call
from callbridge.calls.service import CallService
from callbridge.errors import GatewayError
from callbridge.files import audio_file
from callbridge.media.stream_start import start_stream
from callbridge.store.models import SessionRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AutoAnswerSetting:
    """A session's setting, in the API's words (as stored, encrypted, on the session)."""

    enabled: bool = False
    url: str | None = None
    format: str = "twilio"
    parameters: dict[str, str] = field(default_factory=dict)
    announce: str | None = None

    @classmethod
    def of(cls, session: SessionRow) -> AutoAnswerSetting:
        data = session.autoanswer or {}
        stream = data.get("Stream") or {}
        return cls(
            enabled=bool(data.get("Enabled")),
            url=stream.get("URL"),
            format=stream.get("Format", "twilio"),
            parameters=dict(stream.get("CustomParameters") or {}),
            announce=data.get("Announce") or None,
        )

    def view(self) -> dict[str, Any]:
        stream = {"URL": self.url, "Format": self.format, "CustomParameters": self.parameters} if self.url else None
        return {"Enabled": self.enabled, "Stream": stream, "Announce": self.announce}


class AutoAnswer:
    def __init__(self, calls: CallService, files_dir: Path) -> None:
        self.calls = calls
        self.files_dir = files_dir

    async def on_incoming(self, session: SessionRow, call: Call) -> None:
        setting = AutoAnswerSetting.of(session)
        if not setting.enabled or setting.url is None:
            return
        try:
            await self.calls.accept(session, call.id)
            if call.media is None:
                return
            stream_id = await start_stream(
                call.media,
                session_id=session.id,
                call_id=call.id,
                url=setting.url,
                fmt=setting.format,
                parameters=setting.parameters,
            )
            log.info("auto-answered and handed to stream %s", stream_id, extra={"call": call.id})
            if setting.announce:
                await call.media.play(audio_file(self.files_dir, setting.announce), setting.announce)
        except GatewayError as exc:  # the call may have ended meanwhile, or the file gone: the app sees the events
            log.warning("auto-answer did not complete: %s", exc.message, extra={"call": call.id})
