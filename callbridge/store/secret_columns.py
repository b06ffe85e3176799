"""Every encrypted value in the database, read raw: checked against the key at start, re-encrypted on rotation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, Table, Text, select, type_coerce, update
from sqlalchemy.engine import Connection

from callbridge.store.encrypted import EncryptedJSON, EncryptedText
from callbridge.store.models import Base
from callbridge.store.secrets import SecretBox, SecretKeyError

Sealed = tuple[Table, Column[Any], Any, str]  # table, column, primary key, ciphertext


def _sealed_values(conn: Connection) -> Iterator[Sealed]:
    for table in Base.metadata.sorted_tables:
        [key] = table.primary_key.columns
        for column in table.columns:
            if not isinstance(column.type, EncryptedText | EncryptedJSON):
                continue
            # type_coerce to Text: the ciphertext as stored, not decrypted on the way out.
            rows = conn.execute(select(key, type_coerce(column, Text())).where(column.is_not(None)).order_by(key))
            for pk, sealed in rows:
                yield table, column, pk, sealed


def check(conn: Connection, box: SecretBox) -> None:
    """Fail now, with a plain message, rather than on the first request that needs a secret."""
    for table, column, pk, sealed in _sealed_values(conn):
        try:
            box.decrypt(sealed)
        except SecretKeyError:
            raise SecretKeyError(
                f"the secret key does not decrypt {table.name}.{column.name} (row {pk}): "
                "it is not the key the database's secrets were encrypted with"
            ) from None


def reencrypt(conn: Connection, box: SecretBox) -> int:
    """Encrypt every value again with the box's first key; returns how many were rewritten."""
    values = list(_sealed_values(conn))
    for table, column, pk, sealed in values:
        [key] = table.primary_key.columns
        conn.execute(update(table).where(key == pk).values({column.name: type_coerce(box.rotate(sealed), Text())}))
    return len(values)
