"""How stored things are shown to clients, with every secret masked."""

from __future__ import annotations

from typing import Any

from callbridge.logs import mask
from callbridge.store.models import OutboxRow, SessionRow


def cloud_view(cloud: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cloud:
        return None
    return {
        "PhoneNumberID": cloud.get("phone_number_id"),
        "AccessToken": mask(cloud.get("access_token")),
        "AppSecret": mask(cloud.get("app_secret")),
        "VerifyToken": mask(cloud.get("verify_token")),
        "GraphURL": cloud.get("graph_url"),
        "GraphVersion": cloud.get("graph_version"),
        "WabaID": cloud.get("waba_id"),
    }


def session_view(row: SessionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "token": mask(row.token),
        "osName": row.os_name,
        "connected": row.connected,
        "loggedIn": row.logged_in,
        "jid": row.jid or "",
        "events": row.subscribe,
        "webhook": row.webhook_url or "",
        "cloud": cloud_view(row.cloud),
        "createdAt": row.created_at.isoformat(),
    }


def outbox_view(row: OutboxRow) -> dict[str, Any]:
    return {
        "EventID": row.event_id,
        "SessionID": row.session_id,
        "CallID": row.order_key or None,
        "Seq": row.seq,
        "Type": row.type,
        "Status": row.status,
        "Attempts": row.attempts,
        "CreatedAt": row.created_at.isoformat(),
        "NextAttemptAt": row.next_attempt_at.isoformat() if row.status == "pending" else None,
        "DeliveredAt": row.delivered_at.isoformat() if row.delivered_at else None,
        "LastError": row.last_error,
        "Event": row.payload,
    }
