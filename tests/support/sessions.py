"""Creating sessions through the real API."""

from __future__ import annotations

from typing import Any

from tests.support.gateway import GatewayProcess
from tests.support.graph import GraphStandIn


def cloud(graph_url: str, phone_number_id: str = "1000001", access_token: str = "graph-access-token") -> dict[str, Any]:
    return {
        "PhoneNumberID": phone_number_id,
        "AccessToken": access_token,
        "AppSecret": "app-secret-for-tests",
        "VerifyToken": "verify-token-for-tests",
        "GraphURL": graph_url,
    }


def create_session(
    gw: GatewayProcess,
    graph: GraphStandIn,
    name: str = "shop",
    token: str = "shop-token",
    phone_number_id: str = "1000001",
    display: str = "+1 555-010-0001",
) -> str:
    graph.numbers[phone_number_id] = ("graph-access-token", display)
    r = gw.post(
        "/session/init", admin=True, json={"Name": name, "Token": token, "Cloud": cloud(graph.url, phone_number_id)}
    )
    assert r.status_code == 200, r.text
    return token


def connected_session(
    gw: GatewayProcess, graph: GraphStandIn, webhook_url: str | None = None, secret: str | None = None, **kwargs: Any
) -> str:
    token = create_session(gw, graph, **kwargs)
    r = gw.post("/session/connect", token=token, json={"Subscribe": ["Call"]})
    assert r.status_code == 200, r.text
    if webhook_url:
        body = {"WebhookURL": webhook_url, **({"Secret": secret} if secret else {})}
        r = gw.post("/webhook", token=token, json=body)
        assert r.status_code == 200, r.text
    return token
