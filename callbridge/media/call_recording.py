"""A call's recording: started at once, or after a consent announcement everyone hears (and cancelled if that
announcement is cut short, so nothing is recorded without it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callbridge.errors import Conflict
from callbridge.media.events import MediaEvent, MediaWarning, RecordingFinished, RecordingInfo, RecordingStarted
from callbridge.media.player import Playlist, Track
from callbridge.media.recorder import Recorder
from callbridge.tasks import BackgroundTasks

Report = Callable[[MediaEvent], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Pending:
    """A recording waiting for its consent announcement to finish."""

    path: Path
    info: RecordingInfo
    announcement: Track


class CallRecording:
    def __init__(self, playlist: Playlist, report: Report, changed: Callable[[], None]) -> None:
        self.playlist = playlist
        self.report = report
        self.changed = changed  # the router must start or stop feeding the recorder
        self.recorder: Recorder | None = None
        self.info: RecordingInfo | None = None
        self.pending: Pending | None = None
        self._tasks = BackgroundTasks()

    @property
    def busy(self) -> bool:
        return self.recorder is not None or self.pending is not None

    async def start(
        self, path: Path, name: str, rate: int, stereo: bool, announce: tuple[Path, str] | None = None
    ) -> RecordingInfo:
        """Record now, or once ``announce`` (a consent notice everyone hears) has played."""
        if self.busy:
            raise Conflict("the call is already being recorded; stop that recording first")
        info = RecordingInfo(name, rate, stereo, datetime.now(UTC))
        if announce is None:
            await self._record(path, info)
            return info
        notice = await asyncio.to_thread(Track.open, *announce)
        self.pending = Pending(path, info, notice)
        self.playlist.add(notice)
        self.changed()
        return info

    def track_finished(self, track: Track, stopped: bool) -> None:
        """A file ended: if it was the announcement, the recording starts (or, cut short, never does)."""
        pending = self.pending
        if pending is None or pending.announcement is not track:
            return
        self.pending = None
        if stopped:
            detail = "the recording was cancelled: its announcement was stopped"
            self._tasks.spawn(self.report(MediaWarning(detail)))
        else:
            self._tasks.spawn(self._record(pending.path, replace(pending.info, started_at=datetime.now(UTC))))

    async def _record(self, path: Path, info: RecordingInfo) -> None:
        self.recorder = Recorder(path, rate=info.sample_rate, stereo=info.stereo)
        self.info = info
        self.changed()
        await self.report(RecordingStarted(info))

    async def stop(self) -> tuple[RecordingInfo, float] | None:
        if self.pending is not None:  # stopped before the announcement finished: nothing is recorded
            pending, self.pending = self.pending, None
            self.playlist.drop(pending.announcement)
            return pending.info, 0.0
        recorder, info = self.recorder, self.info
        if recorder is None or info is None:
            return None
        self.recorder = self.info = None
        self.changed()
        seconds = await recorder.stop()
        await self.report(RecordingFinished(info, seconds))
        return info, seconds

    async def close(self) -> None:
        self.pending = None
        await self.stop()
        await self._tasks.settle(within=2)
