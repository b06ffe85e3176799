"""The keys that encrypt secrets at rest (Fernet), and which database engine uses which keys.

Several keys exist only while rotating: the first encrypts, every one decrypts.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from weakref import WeakKeyDictionary

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Dialect


class SecretKeyError(Exception):
    """The secret key is missing, malformed, or not the one the database's secrets were encrypted with."""


class SecretBox:
    """Encrypts and decrypts the secrets stored in the database."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("no secret key given")
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except (ValueError, binascii.Error):
                raise SecretKeyError(
                    f"secret key #{n} is not a Fernet key (32 url-safe base64-encoded bytes; "
                    "`callbridge secrets new-key` prints one)"
                ) from None
        self.keys = [key.strip() for key in keys]
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    @classmethod
    def generate(cls) -> SecretBox:
        return cls([cls.new_key()])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("the secret key does not decrypt a secret stored in the database") from None

    def rotate(self, sealed: str) -> str:
        """The same secret, encrypted again with the first key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("the secret key does not decrypt a secret stored in the database") from None


# Column types see only the dialect, so each engine's keys are found through its dialect instance. Keyed weakly
# and per engine: two databases with different keys live side by side, and nothing outlives its engine.
_boxes: WeakKeyDictionary[Dialect, SecretBox] = WeakKeyDictionary()


def bind(dialect: Dialect, box: SecretBox) -> None:
    _boxes[dialect] = box


def box_for(dialect: Dialect) -> SecretBox:
    box = _boxes.get(dialect)
    if box is None:
        raise SecretKeyError("this database connection has no secret key (open it through callbridge's Database)")
    return box
