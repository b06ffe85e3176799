"""Paths that clients name (``AudioFile``, ``Path``) are confined to the files directory.

WaGo names that directory ``files/`` in its paths (``"Path": "files/calls/CALL_ID.wav"``): a leading ``files/``
means the files directory itself, and recordings are reported that way, so a WaGo app's stored paths stay valid.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from callbridge.errors import Conflict, InvalidRequest, NotFound

AUDIO_EXTENSIONS = (".mp3", ".wav", ".opus", ".ogg")
MAX_NAME = 255  # bytes in one path component (NAME_MAX on Linux)
MAX_PATH = 1024  # bytes in the whole relative path
RECORDING_EXTENSIONS = (".wav",)
WAGO_PREFIX = "files/"


def in_files_dir(name: str) -> str:
    """The path under the files directory that a client's name means (WaGo's ``files/`` prefix removed)."""
    return name[len(WAGO_PREFIX) :] if name.startswith(WAGO_PREFIX) else name


def normalized(name: str) -> str:
    """A client's name for a file as the gateway reports it: no WaGo ``files/`` prefix, no ``./`` or ``//``."""
    return str(PurePosixPath(in_files_dir(name)))


def as_wago(relative: str) -> str:
    """How WaGo reports a path under the files directory."""
    return WAGO_PREFIX + relative


def confine(root: Path, relative: str, extensions: tuple[str, ...]) -> Path:
    """Resolve ``relative`` under ``root``; refuse anything that could land outside it (400)."""
    relative = in_files_dir(relative)
    if not relative or "\x00" in relative or "\\" in relative:
        raise InvalidRequest("the path must be a relative path under the files directory")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise InvalidRequest(f"{relative!r} leaves the files directory: use a path relative to it, without '..'")
    if pure.suffix.lower() not in extensions:
        raise InvalidRequest(f"{relative!r} must end in one of {', '.join(extensions)}")
    if len(relative.encode()) > MAX_PATH or any(len(part.encode()) > MAX_NAME for part in pure.parts):
        raise InvalidRequest(f"the path is too long: at most {MAX_NAME} bytes a name and {MAX_PATH} in all")
    base = root.resolve()
    try:
        target = (base / pure).resolve()  # follows symlinks, so a link pointing outside is caught here
    except (OSError, RuntimeError) as exc:  # a symlink loop, say
        raise InvalidRequest(f"{relative!r} cannot be resolved (a symlink loop?)") from exc
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InvalidRequest(f"{relative!r} cannot be created: a part of its directory is a file") from exc
    return path
