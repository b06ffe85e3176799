"""The files directory as a session sees it (GET/DELETE /files): the playable files under it, the recordings of
the session's calls, one file to download or delete.

Every name goes through :func:`callbridge.files.confine`, as /call/play and /call/record do. The files directory
is shared by the sessions (any of them may play any file in it), except for recordings: a file the gateway
recorded from a call belongs to that call's session, and other sessions can neither list, download nor delete it.
"""

from __future__ import annotations

import asyncio
import os
import wave
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from sqlalchemy import delete, select

from callbridge.calls.model import State
from callbridge.errors import Conflict, NotFound
from callbridge.files import AUDIO_EXTENSIONS, as_wago, confine, normalized
from callbridge.store import Database
from callbridge.store.models import CallRow, RecordingRow

MEDIA_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg"}
_MEASURED_MAX = 4096  # durations kept, by path, size and mtime: a listing reads each file's header once


@dataclass(frozen=True)
class FileEntry:
    name: str  # relative to the files directory, with / separators
    size: int
    modified: datetime
    seconds: float | None
    call_id: str | None = None  # set for recordings
    incomplete: bool = False

    def view(self) -> dict[str, Any]:
        data: dict[str, Any] = {"Name": self.name, "Size": self.size, "Modified": self.modified.isoformat()}
        if self.seconds is not None:
            data["Seconds"] = self.seconds
        if self.call_id is not None:
            data["CallID"] = self.call_id
            data["Incomplete"] = self.incomplete
        return data


class FileLibrary:
    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self._measured: dict[tuple[str, int, int], float | None] = {}

    async def audio(self, session_id: int) -> list[FileEntry]:
        """Every playable file under the files directory, by name, less other sessions' recordings."""
        others = await self._others_recordings(session_id)
        entries = await asyncio.to_thread(self._walk)
        return [entry for entry in entries if entry.name not in others]

    async def recordings(self, session_id: int) -> list[FileEntry]:
        """The recordings of the session's calls still on disk, newest first."""
        query = (
            select(RecordingRow)
            .join(CallRow, CallRow.id == RecordingRow.call_id)
            .where(CallRow.session_id == session_id)
            .order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc())
        )
        async with self.db.session() as s:
            rows = list(await s.scalars(query))
        return await asyncio.to_thread(self._recording_entries, rows)

    async def path(self, session_id: int, name: str) -> Path:
        """The file ``name`` means, when it exists and this session may have it (400 for names that leave the
        files directory, 404 otherwise)."""
        path = confine(self.root, name, AUDIO_EXTENSIONS)
        if not path.is_file() or await self._owner(normalized(name)) not in (None, session_id):
            raise NotFound(f"no file {name!r} in the files directory")
        return path

    async def delete(self, session_id: int, name: str) -> bool:
        """Delete the file, and its recording rows if it is a recording; True if it was one. A recording still
        being written cannot be deleted (409): stop it first."""
        path = await self.path(session_id, name)
        wago = as_wago(normalized(name))
        async with self.db.session() as s:
            recording = (
                await s.execute(
                    select(RecordingRow.ended_at, CallRow.state)
                    .join(CallRow, CallRow.id == RecordingRow.call_id)
                    .where(RecordingRow.path == wago)
                    .order_by(RecordingRow.id.desc())
                    .limit(1)
                )
            ).first()
            if recording is not None and recording.ended_at is None and recording.state != State.ENDED.value:
                raise Conflict(f"{name!r} is being recorded: stop the recording first")
            path.unlink(missing_ok=True)
            if recording is not None:
                await s.execute(delete(RecordingRow).where(RecordingRow.path == wago))
                await s.commit()
        return recording is not None

    def media_type(self, path: Path) -> str:
        return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")

    async def _owner(self, name: str) -> int | None:
        """The session whose call recorded ``name`` (its latest recording there); None for other files. A
        recording whose session was deleted belongs to no session: 0."""
        query = (
            select(CallRow.session_id)
            .join(RecordingRow, CallRow.id == RecordingRow.call_id)
            .where(RecordingRow.path == as_wago(name))
            .order_by(RecordingRow.id.desc())
            .limit(1)
        )
        async with self.db.session() as s:
            found = (await s.execute(query)).first()
        return None if found is None else (found.session_id or 0)

    async def _others_recordings(self, session_id: int) -> set[str]:
        query = (
            select(RecordingRow.path, CallRow.session_id)
            .join(CallRow, CallRow.id == RecordingRow.call_id)
            .order_by(RecordingRow.id)
        )
        owners: dict[str, int | None] = {}
        async with self.db.session() as s:
            for path, owner in await s.execute(query):
                owners[normalized(path)] = owner  # the latest recording at a path says whose it is
        return {name for name, owner in owners.items() if owner != session_id}

    def _walk(self) -> list[FileEntry]:
        base = self.root.resolve()
        entries: list[FileEntry] = []
        if not base.is_dir():
            return entries
        for folder, dirs, files in os.walk(base):  # symlinked folders are not entered
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in files:
                if file.startswith(".") or not file.lower().endswith(AUDIO_EXTENSIONS):
                    continue
                path = Path(folder, file)
                if path.is_symlink() and not path.resolve().is_relative_to(base):
                    continue  # a link out of the files directory: confine() refuses it, so it is not listed
                entry = self._entry(path, path.relative_to(base).as_posix())
                if entry is not None:
                    entries.append(entry)
        return sorted(entries, key=lambda e: e.name)

    def _recording_entries(self, rows: list[RecordingRow]) -> list[FileEntry]:
        entries: list[FileEntry] = []
        seen: set[str] = set()
        for row in rows:
            name = normalized(row.path)
            if name in seen:
                continue  # recorded there again: the newest row speaks for the file
            seen.add(name)
            entry = self._entry(self.root / name, name, row.seconds)
            if entry is not None:
                entries.append(FileEntry(**{**entry.__dict__, "call_id": row.call_id, "incomplete": row.incomplete}))
        return entries

    def _entry(self, path: Path, name: str, seconds: float | None = None) -> FileEntry | None:
        try:
            stat = path.stat()
        except OSError:
            return None  # gone since (or a dangling link)
        if seconds is None:
            seconds = self._seconds(path, stat)
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        return FileEntry(name, stat.st_size, modified, seconds)

    def _seconds(self, path: Path, stat: os.stat_result) -> float | None:
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._measured:
            if len(self._measured) >= _MEASURED_MAX:
                self._measured.clear()
            self._measured[key] = duration(path)
        return self._measured[key]


def duration(path: Path) -> float | None:
    """Seconds of audio, from the file's header (WAV) or container (others); None if it cannot be told."""
    try:
        if path.suffix.lower() == ".wav":
            with wave.open(str(path), "rb") as wav:
                return round(wav.getnframes() / wav.getframerate(), 3)
        with av.open(str(path)) as container:
            if container.duration is not None:
                return round(container.duration / av.time_base, 3)
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return round(float(stream.duration * stream.time_base), 3)
    except (OSError, EOFError, wave.Error, av.FFmpegError, ZeroDivisionError, ValueError):
        return None
    return None
