"""Which packet path this process's legs use: ``lean`` (ours, the default) or ``aiortc`` (its sender and receiver
tasks, kept selectable for one release).

Chosen once at start-up (``CALLBRIDGE_MEDIA_PATH``); legs made afterwards follow it.
"""

from __future__ import annotations

from typing import Literal, cast, get_args

MediaPath = Literal["aiortc", "lean"]
MEDIA_PATHS: tuple[str, ...] = get_args(MediaPath)

_selected: MediaPath = "lean"


def select(path: str) -> None:
    global _selected
    if path not in MEDIA_PATHS:
        raise ValueError(f"unknown media path {path!r}: one of {', '.join(MEDIA_PATHS)}")
    _selected = cast(MediaPath, path)


def selected() -> MediaPath:
    return _selected
