"""Which connector serves a session: chosen by the session's kind, made once, and kept (a connector remembers
the deliveries it has seen)."""

from __future__ import annotations

from collections.abc import Callable

from callbridge.connectors.base import Connector
from callbridge.errors import InvalidRequest
from callbridge.store.models import SessionRow

ConnectorFactory = Callable[[SessionRow], Connector]


def kind_of(session: SessionRow) -> str | None:
    """Today every way into WhatsApp is Meta's Cloud API; a session without its credentials has none."""
    return "cloud" if session.cloud else None


class Connectors:
    def __init__(self, factories: dict[str, ConnectorFactory]) -> None:
        self.factories = factories
        self._made: dict[int, Connector] = {}

    def for_session(self, session: SessionRow) -> Connector:
        connector = self._made.get(session.id)
        if connector is None:
            factory = self.factories.get(kind_of(session) or "")
            if factory is None:
                raise InvalidRequest("this session has no Cloud credentials; create it with a Cloud object")
            connector = self._made[session.id] = factory(session)
        return connector

    def forget(self, session_id: int) -> None:
        """The session is gone (or its credentials changed): the next use makes a fresh connector."""
        self._made.pop(session_id, None)
