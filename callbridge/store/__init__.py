"""Persistence: SQLAlchemy models, the database handle and Alembic migrations."""

from callbridge.store.db import Database
from callbridge.store.secrets import SecretBox, SecretKeyError

__all__ = ["Database", "SecretBox", "SecretKeyError"]
