"""Creating sessions through the real API, against the Graph stand-in (tests/support/graph.py) rather than the
emulator: the kit's provisioning steps with this file's credentials."""

from __future__ import annotations

from typing import Any

from callbridge.testing import BusinessNumber, Gateway, connect_session, init_session, set_webhook
from tests.support.graph import GraphStandIn


def number(phone_number_id: str = "1000001", access_token: str = "graph-access-token") -> BusinessNumber:
    return BusinessNumber(
        phone_number_id,
        access_token=access_token,
        app_secret="app-secret-for-tests",
        verify_token="verify-token-for-tests",
    )


def cloud(graph_url: str, phone_number_id: str = "1000001", access_token: str = "graph-access-token") -> dict[str, Any]:
    return number(phone_number_id, access_token).cloud(graph_url)


def create_session(
    gw: Gateway,
    graph: GraphStandIn,
    name: str = "shop",
    token: str = "shop-token",
    phone_number_id: str = "1000001",
    display: str = "+1 555-010-0001",
) -> str:
    graph.numbers[phone_number_id] = ("graph-access-token", display)
    init_session(gw.client, gw.admin_token, name, token, cloud(graph.url, phone_number_id))
    return token


def connected_session(
    gw: Gateway, graph: GraphStandIn, webhook_url: str | None = None, secret: str | None = None, **kwargs: Any
) -> str:
    token = create_session(gw, graph, **kwargs)
    connect_session(gw.client, token, subscribe=("Call",))
    if webhook_url:
        set_webhook(gw.client, token, webhook_url, secret)
    return token
