"""Paths that clients name (``AudioFile``, ``Path``) are confined to the files directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from callbridge.errors import Conflict, InvalidRequest, NotFound

AUDIO_EXTENSIONS = (".mp3", ".wav", ".opus", ".ogg")
RECORDING_EXTENSIONS = (".wav",)


def confine(root: Path, relative: str, extensions: tuple[str, ...]) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that could land outside it (400)."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise InvalidRequest("the path must be a relative path under the files directory")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise InvalidRequest(f"{relative!r} leaves the files directory: use a path relative to it, without '..'")
    if pure.suffix.lower() not in extensions:
        raise InvalidRequest(f"{relative!r} must end in one of {', '.join(extensions)}")
    base = root.resolve()
    target = (base / pure).resolve()  # follows symlinks, so a link pointing outside is caught here
    if not target.is_relative_to(base):
        raise InvalidRequest(f"{relative!r} resolves outside the files directory")
    return target


def audio_file(root: Path, relative: str) -> Path:
    path = confine(root, relative, AUDIO_EXTENSIONS)
    if not path.is_file():
        raise NotFound(f"no audio file {relative!r} in the files directory")
    return path


def new_recording(root: Path, relative: str) -> Path:
    path = confine(root, relative, RECORDING_EXTENSIONS)
    if path.exists():
        raise Conflict(f"{relative!r} already exists; choose another Path")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
