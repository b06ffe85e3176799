"""Errors the gateway reports to its clients. The API layer maps each kind to an HTTP status."""

from __future__ import annotations


class GatewayError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(GatewayError):
    status = 400


class Unauthorized(GatewayError):
    status = 401


class Forbidden(GatewayError):
    """WhatsApp will not allow it yet (e.g. no call permission from the user)."""

    status = 403


class NotFound(GatewayError):
    status = 404


class Conflict(GatewayError):
    """The request is well formed but the target is in the wrong state (e.g. accept on an outgoing call)."""

    status = 409


class TooManyRequests(GatewayError):
    status = 429


class UpstreamError(GatewayError):
    """WhatsApp, media or the filesystem failed."""

    status = 500


class Unavailable(GatewayError):
    """No node can do it now (every node draining or full, or the call's node not answering)."""

    status = 503
