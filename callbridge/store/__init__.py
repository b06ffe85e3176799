"""Persistence: SQLAlchemy models, the database handle and Alembic migrations."""

from callbridge.store.db import Database

__all__ = ["Database"]
