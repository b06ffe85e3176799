"""Where the secret keys come from: ``CALLBRIDGE_SECRET_KEY`` (comma-separated) or a file in the data dir with one
key a line. Either way the first key encrypts and every key decrypts; the file is owner-only (0600)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from callbridge.store.secrets import SecretBox, SecretKeyError


def split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.replace("\n", ",").split(",") if key.strip()]


def read_keys(path: Path) -> list[str]:
    if path.stat().st_mode & 0o077:  # copied in by hand, or restored from a backup: tighten it
        with contextlib.suppress(PermissionError):  # not ours to change: whoever owns it chose its mode
            path.chmod(0o600)
    keys = split_keys(path.read_text())
    if not keys:
        raise SecretKeyError(f"{path} holds no secret key")
    return keys


def write_keys(path: Path, keys: list[str]) -> None:
    """Replace the file in one step, so that a crash leaves the old keys or the new ones, never half a file."""
    SecretBox(keys)  # refuse to write anything that would not open again
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write("".join(key + "\n" for key in keys))
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def load_or_create(path: Path) -> tuple[list[str], bool]:
    """The keys in ``path``, or a new key written there; and whether it was made just now."""
    if path.exists():
        return read_keys(path), False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = [SecretBox.new_key()]
    write_keys(path, keys)
    return keys, True
