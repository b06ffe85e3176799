"""What a virtual user says once a call is answered, from its ``say`` setting."""

from __future__ import annotations

from pathlib import Path

from callbridge.emulator.audio import Mouth, decode_file, tone


def speak(mouth: Mouth, say: str, files_dir: Path) -> None:
    """``say`` is tone:HZ | file:NAME (in ``files_dir``) | echo | markers | silence."""
    if say.startswith("tone:"):
        mouth.say_samples(tone(float(say[5:]), 1.0))  # one second, looped: an exact number of cycles
    elif say.startswith("file:"):
        mouth.say_samples(decode_file(files_dir / say[5:]))
    elif say == "echo":
        mouth.say_echo()
    elif say == "markers":
        pass  # the marker track speaks from the start
    else:
        mouth.say_silence()
