"""The secret key from the command line: checked before the gateway serves, and rotated.

Rotation rewrites the database with a key the running gateway does not know yet: stop the gateway first.
"""

from __future__ import annotations

from callbridge.config import Settings
from callbridge.store import Database
from callbridge.store.key_file import read_keys, write_keys
from callbridge.store.secrets import SecretBox, SecretKeyError


def key_source(settings: Settings) -> str:
    if settings.secret_key is not None:
        return "CALLBRIDGE_SECRET_KEY"
    return str(settings.secret_key_file())


def explain(settings: Settings, error: SecretKeyError) -> str:
    """The error, and where the key it is about came from."""
    return f"{error} (the secret key is read from {key_source(settings)})"


async def open_database(settings: Settings) -> None:
    """Migrate and check that the key opens every stored secret, so that a wrong key stops the start with one
    line rather than an application that fails on its first request."""
    db = Database(settings.resolved_database_url(), settings.secret_box())
    try:
        await db.migrate()
    finally:
        await db.close()


async def _reencrypt(settings: Settings, box: SecretBox) -> int:
    db = Database(settings.resolved_database_url(), box)
    try:
        await db.migrate()  # also checks that these keys open every secret before anything is rewritten
        return await db.reencrypt()
    finally:
        await db.close()


async def rotate(settings: Settings) -> str:
    """Encrypt every secret with a new key (or, with CALLBRIDGE_SECRET_KEY, with its first key); returns what
    was done, for the operator."""
    if settings.secret_key is not None:
        box = settings.secret_box()
        if len(box.keys) < 2:
            raise SecretKeyError(
                "CALLBRIDGE_SECRET_KEY holds one key: put a new one first (`callbridge secrets new-key`), "
                "the current one after a comma, and run this again"
            )
        count = await _reencrypt(settings, box)
        return f"re-encrypted {count} secrets with the first key; now remove the others from CALLBRIDGE_SECRET_KEY"

    path = settings.secret_key_file()
    if not path.exists():
        raise SecretKeyError(f"no key file at {path}, and CALLBRIDGE_SECRET_KEY is not set: nothing to rotate")
    old = read_keys(path)
    new = SecretBox.new_key()
    # New key first, old ones kept, before any row changes: a failure from here on leaves a file that opens
    # every row, whichever key it was encrypted with. The old keys go only once every row has the new one.
    write_keys(path, [new, *old])
    count = await _reencrypt(settings, SecretBox([new, *old]))
    write_keys(path, [new])
    return f"re-encrypted {count} secrets with a new key; {path} holds only the new key now"
