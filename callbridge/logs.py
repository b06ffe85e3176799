"""Structured logging: plain or JSON lines, each carrying the current request id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        # Fields passed with `extra=` become top-level keys.
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return text


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JSONFormatter() if as_json else TextFormatter())
    wanted = logging.getLevelName(level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # DEBUG is for our own code: libraries' debug logs (aiosqlite, asyncpg) print query parameters, i.e. secrets.
    root.setLevel(max(wanted, logging.INFO))
    logging.getLogger("callbridge").setLevel(wanted)
    # uvicorn's access log prints query strings, which may carry ?token=; we log requests ourselves.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aioice", "aiortc", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # SQLAlchemy's engine log prints bound parameters, which include tokens and credentials.
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def mask(secret: str | None) -> str | None:
    """Show only enough of a secret to recognise it: '…a1b2'."""
    if not secret:
        return secret
    return "…" + secret[-4:] if len(secret) >= 12 else "…"
