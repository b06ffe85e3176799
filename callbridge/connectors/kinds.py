"""Every kind of connector this gateway has, by the kind of session it serves. A new way into WhatsApp is one
more entry here (and a module beside cloud/); sessions, calls and the app do not change."""

from __future__ import annotations

import httpx

from callbridge.connectors.cloud.connector import CloudConnector
from callbridge.connectors.registry import Connectors
from callbridge.media.ice import IceSettings


def all_connectors(http: httpx.AsyncClient, ice: IceSettings) -> Connectors:
    return Connectors({"cloud": lambda session: CloudConnector.for_session(session, http, ice)})
