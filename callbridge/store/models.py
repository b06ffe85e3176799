"""Database tables: sessions, calls (history), recordings, the webhook outbox and the nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callbridge.store.encrypted import EncryptedJSON, EncryptedText
from callbridge.store.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    """One WhatsApp Business number on the Cloud API, addressed by its session token.

    The token, the Cloud credentials and the webhook secret are encrypted at rest (the ``*_encrypted`` columns);
    the token is found by its digest, and kept (encrypted) only because WaGo's webhook form sends it back.
    """

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token: Mapped[str] = mapped_column("token_encrypted", EncryptedText)
    # Looked up by digest so that finding a session by token leaks no timing about the token itself.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    os_name: Mapped[str] = mapped_column(String(100), default="")
    cloud: Mapped[dict[str, Any] | None] = mapped_column("cloud_encrypted", EncryptedJSON, nullable=True)
    phone_number_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    logged_in: Mapped[bool] = mapped_column(Boolean, default=False)
    jid: Mapped[str | None] = mapped_column(String(100), nullable=True)
    subscribe: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column("webhook_secret_encrypted", EncryptedText, nullable=True)
    # Auto-answer for voice bots: {"Enabled", "Stream": {"URL", "Format", "CustomParameters"}, "Announce"}; the URL
    # and parameters may carry the bot's credentials, so it is encrypted like the rest.
    autoanswer: Mapped[dict[str, Any] | None] = mapped_column("autoanswer_encrypted", EncryptedJSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CallRow(Base):
    """A call's record (CDR). Live media state stays in the process; this row survives restarts."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_node_live", "node_id", "state"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True, index=True
    )
    phone: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    direction: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    duration: Mapped[float | None] = mapped_column(nullable=True)
    callback_data: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # The node carrying the call's media (several nodes on one database); None for calls from before nodes.
    node_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Set when the call ends: {"LossPercent", "JitterP95Ms", "LateFrames"} of the WhatsApp leg.
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RecordingRow(Base):
    """A WAV file the gateway recorded from a call."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    seconds: Mapped[float | None] = mapped_column(nullable=True)
    # The node writing it stopped mid-call: the file holds what was written until then.
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)


class PermissionReplyRow(Base):
    """A user's latest answer to the business's call-permission request (Meta says when, how and for how long)."""

    __tablename__ = "permission_replies"
    __table_args__ = (UniqueConstraint("session_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(String(32))
    is_permanent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    context_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """An event for the app's webhook, stored before it is sent and kept until delivered or dead."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "session_id", "order_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    order_key: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A node delivering the event holds it until the lease ends; a dead node's claims lapse and others take them.
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NodeRow(Base):
    """A gateway process sharing this database: where other nodes reach it, and whether it is alive."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # active · draining · stopped · lost
    live_calls: Mapped[int] = mapped_column(Integer, default=0)
    max_calls: Mapped[int] = mapped_column(Integer, default=0)  # 0: no limit
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
