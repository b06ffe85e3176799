"""Column types that keep their values encrypted in the database and plain in Python."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from callbridge.store.secrets import box_for


class EncryptedText(TypeDecorator[str]):
    """A string stored as a Fernet token (so never usable in a WHERE clause: look things up by digest)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else box_for(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else box_for(dialect).decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON value stored as one Fernet token: its keys, not only its values, stay unreadable at rest."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else box_for(dialect).encrypt(json.dumps(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(box_for(dialect).decrypt(value))
