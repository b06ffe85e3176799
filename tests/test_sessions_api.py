"""The session lifecycle and its failure modes, over real HTTP against a gateway process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.gateway import GatewayProcess
from tests.support.graph import GraphStandIn
from tests.support.net import wait_until
from tests.support.sessions import cloud, create_session

pytestmark = pytest.mark.store

SESSION_ROUTES = [
    ("POST", "/session/connect"),
    ("GET", "/session/status"),
    ("POST", "/session/disconnect"),
    ("POST", "/session/logout"),
    ("GET", "/session/qr"),
    ("POST", "/webhook"),
    ("GET", "/webhook"),
]
ADMIN_ROUTES = [
    ("POST", "/session/init"),
    ("GET", "/session/all"),
    ("POST", "/session/scanned"),
    ("POST", "/session/delete"),
    ("GET", "/admin/outbox"),
    ("POST", "/admin/outbox/retry"),
]


def status(gw: GatewayProcess, token: str) -> dict:
    r = gw.get("/session/status", token=token)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def all_sessions(gw: GatewayProcess) -> list[dict]:
    r = gw.get("/session/all", admin=True)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_whole_lifecycle(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph, display="+1 555-010-0001")
    assert status(gateway, token) == {"Connected": False, "LoggedIn": False, "Jid": "", "Events": ["All"]}

    r = gateway.post("/session/connect", token=token, json={"Subscribe": ["Call"], "Immediate": False})
    assert r.json() == {
        "code": 200,
        "data": {"details": "Connected!", "jid": "15550100001@s.whatsapp.net", "events": "Call", "webhook": ""},
        "success": True,
    }
    assert graph.requests and graph.requests[-1].startswith("/v23.0/1000001")
    assert status(gateway, token) == {
        "Connected": True,
        "LoggedIn": True,
        "Jid": "15550100001@s.whatsapp.net",
        "Events": ["Call"],
    }
    assert [s["name"] for s in gateway.post("/session/scanned", admin=True).json()["data"]] == ["shop"]

    assert gateway.post("/session/disconnect", token=token).json()["data"] == {"details": "Disconnected"}
    assert status(gateway, token)["Connected"] is False
    assert status(gateway, token)["LoggedIn"] is True

    gateway.post("/session/connect", token=token)
    assert gateway.post("/session/logout", token=token).json()["data"] == {"details": "Logged out"}
    assert status(gateway, token) | {"Jid": ""} == {"Connected": False, "LoggedIn": False, "Jid": "", "Events": ["All"]}
    assert gateway.post("/session/scanned", admin=True).json()["data"] == []

    r = gateway.post("/session/delete", admin=True, headers={"token": token})
    assert r.status_code == 200, r.text
    assert gateway.get("/session/status", token=token).status_code == 401
    assert all_sessions(gateway) == []


def test_session_survives_a_restart(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    gateway.post("/session/connect", token=token)
    gateway.restart()
    assert status(gateway, token)["Connected"] is True


def test_query_token_is_accepted_for_browsers(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    assert gateway.client.get("/session/status", params={"token": token}).status_code == 200


@pytest.fixture(scope="module")
def gateway_with_session(shared_gateway: GatewayProcess, shared_graph: GraphStandIn) -> GatewayProcess:
    create_session(shared_gateway, shared_graph)
    return shared_gateway


@pytest.mark.parametrize(("method", "path"), SESSION_ROUTES)
@pytest.mark.parametrize("given", [None, "wrong-token"])
def test_session_routes_refuse_missing_or_wrong_token(
    gateway_with_session: GatewayProcess, method: str, path: str, given: str | None
) -> None:
    gw = gateway_with_session
    before = all_sessions(gw)
    r = gw.client.request(method, path, headers={"token": given} if given else {}, json={})
    assert r.status_code == 401
    assert r.json() == {"code": 401, "error": "invalid token", "success": False}
    assert all_sessions(gw) == before


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("given", [None, "wrong-admin-token", "shop-token"])
def test_admin_routes_refuse_missing_or_wrong_admin_token(
    gateway_with_session: GatewayProcess, method: str, path: str, given: str | None
) -> None:
    gw = gateway_with_session  # "shop-token" is a valid session token, but not an admin token
    before = all_sessions(gw)
    r = gw.client.request(method, path, headers={"admintoken": given, "token": "shop-token"} if given else {}, json={})
    assert r.status_code == 401
    assert r.json() == {"code": 401, "error": "invalid admin token", "success": False}
    assert all_sessions(gw) == before


def test_field_names_match_case_insensitively(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    graph.numbers["777"] = ("graph-access-token", "15550000777")
    body = {
        "name": "lower",
        "TOKEN": "lower-token",
        "cloud": {k.lower(): v for k, v in cloud(graph.url, "777").items()},
    }
    assert gateway.post("/session/init", admin=True, json=body).status_code == 200
    r = gateway.post("/session/connect", token="lower-token", json={"subscribe": ["call"], "immediate": False})
    assert r.status_code == 200, r.text
    assert status(gateway, "lower-token")["Events"] == ["Call"]


BAD_INIT_BODIES = [
    (b"{not json", "invalid JSON"),
    (b"[1, 2]", "invalid JSON: expected an object"),
    (b'"a string"', "invalid JSON: expected an object"),
    (b'{"Token": "t2"}', "missing Name in payload"),
    (b'{"Name": "x"}', "missing Token in payload"),
    (b'{"Name": 5, "Token": "t2"}', "invalid Name"),
    (b'{"Name": "x", "Token": "has space"}', "invalid Token"),
    (
        b'{"Name": "x", "Token": "t2", "Cloud": {"AccessToken": "a", "AppSecret": "b", "VerifyToken": "c"}}',
        "missing Cloud.PhoneNumberID in payload",
    ),
    (b'{"Name": "x", "Token": "t2", "Cloud": "nope"}', "invalid Cloud"),
    (b'{"Name": "x", "Token": "t2", "Os": ["list"]}', "invalid Os"),
]


@pytest.mark.parametrize(("body", "message"), BAD_INIT_BODIES)
def test_bad_init_is_refused_and_writes_nothing(
    gateway: GatewayProcess, graph: GraphStandIn, body: bytes, message: str
) -> None:
    create_session(gateway, graph)
    before = all_sessions(gateway)
    r = gateway.post("/session/init", admin=True, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False
    assert r.json()["error"].startswith(message), r.json()
    assert all_sessions(gateway) == before


@pytest.mark.parametrize(
    ("name", "token", "pnid", "message"),
    [
        ("shop", "other-token", "2", "a session named 'shop' already exists"),
        ("other", "shop-token", "2", "that token is already used by another session"),
        ("other", "other-token", "1000001", "PhoneNumberID 1000001 already belongs to session 'shop'"),
    ],
)
def test_duplicates_conflict(
    gateway: GatewayProcess, graph: GraphStandIn, name: str, token: str, pnid: str, message: str
) -> None:
    create_session(gateway, graph)
    before = all_sessions(gateway)
    r = gateway.post("/session/init", admin=True, json={"Name": name, "Token": token, "Cloud": cloud(graph.url, pnid)})
    assert r.status_code == 409
    assert r.json() == {"code": 409, "error": message, "success": False}
    assert all_sessions(gateway) == before


def test_oversized_bodies_get_413(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    create_session(gateway, graph)
    huge = b'{"Name": "' + b"x" * 300_000 + b'"}'
    r = gateway.post("/session/init", admin=True, content=huge)
    assert r.status_code == 413
    assert r.json()["success"] is False and "larger than" in r.json()["error"]

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(40):
            yield b"x" * 10_000

    r = gateway.post("/session/connect", token="shop-token", content=chunks())
    assert r.status_code == 413
    assert len(all_sessions(gateway)) == 1
    assert status(gateway, "shop-token")["Connected"] is False


def test_connect_refuses_unknown_event_classes(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    r = gateway.post("/session/connect", token=token, json={"Subscribe": ["Call", "Message"]})
    assert r.status_code == 400
    assert "unknown event class 'Message'" in r.json()["error"]
    r = gateway.post("/session/connect", token=token, json={"Subscribe": "Call"})
    assert r.status_code == 400
    assert status(gateway, token) == {"Connected": False, "LoggedIn": False, "Jid": "", "Events": ["All"]}


def test_connect_with_rejected_credentials_changes_nothing(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    graph.numbers["1000001"] = ("a-different-token", "15550100001")
    r = gateway.post("/session/connect", token=token)
    assert r.status_code == 400
    assert "WhatsApp rejected the session's Cloud credentials" in r.json()["error"]
    assert "code 190" in r.json()["error"]
    assert status(gateway, token) == {"Connected": False, "LoggedIn": False, "Jid": "", "Events": ["All"]}


def test_connect_with_graph_unreachable_is_500(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    graph.stop()
    r = gateway.post("/session/connect", token=token)
    assert r.status_code == 500
    assert "could not reach the Graph API" in r.json()["error"]
    assert status(gateway, token)["Connected"] is False


def test_connect_without_cloud_credentials_is_400(gateway: GatewayProcess) -> None:
    assert gateway.post("/session/init", admin=True, json={"Name": "bare", "Token": "bare-token"}).status_code == 200
    r = gateway.post("/session/connect", token="bare-token")
    assert r.status_code == 400
    assert "no Cloud credentials" in r.json()["error"]


def test_immediate_connect_checks_credentials_in_the_background(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    good = create_session(gateway, graph)
    r = gateway.post("/session/connect", token=good, json={"Immediate": True})
    assert r.status_code == 200 and r.json()["data"]["details"] == "Connected!"
    wait_until(lambda: status(gateway, good)["LoggedIn"], what="background credential check")
    assert status(gateway, good)["Jid"] == "15550100001@s.whatsapp.net"

    bad = create_session(gateway, graph, name="bad", token="bad-token", phone_number_id="2000002")
    graph.numbers["2000002"] = ("another-token", "15550200002")
    gateway.post("/session/connect", token=bad, json={"Immediate": True})
    wait_until(lambda: "credential check failed" in gateway.log(), what="the failure to be logged")
    assert status(gateway, bad) == {"Connected": True, "LoggedIn": False, "Jid": "", "Events": ["All"]}


def test_qr_is_a_clear_400_for_cloud_sessions(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    r = gateway.get("/session/qr", token=create_session(gateway, graph))
    assert r.status_code == 400
    assert "not a QR code" in r.json()["error"]


def test_secrets_are_masked_in_listings_and_logs(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph, token="shop-session-token-secret")
    gateway.post("/session/connect", token=token)
    gateway.client.get("/session/status", params={"token": token})
    gateway.post("/webhook", token=token, json={"WebhookURL": "http://127.0.0.1:9/hook", "Secret": "s" * 20})
    listing = gateway.get("/session/all", admin=True).text + gateway.post("/session/scanned", admin=True).text
    for secret in (token, "graph-access-token", "app-secret-for-tests", "verify-token-for-tests", "s" * 20):
        assert secret not in listing
        assert secret not in gateway.log()
    cloud_view = gateway.get("/session/all", admin=True).json()["data"][0]["cloud"]
    assert cloud_view["PhoneNumberID"] == "1000001"
    assert cloud_view["AccessToken"] == "…oken"


def test_delete_needs_a_target_token(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    create_session(gateway, graph)
    r = gateway.post("/session/delete", admin=True)
    assert r.status_code == 400 and "missing token header" in r.json()["error"]
    r = gateway.post("/session/delete", admin=True, headers={"token": "nobody"})
    assert r.status_code == 404
    assert len(all_sessions(gateway)) == 1


def test_webhook_settings(gateway: GatewayProcess, graph: GraphStandIn) -> None:
    token = create_session(gateway, graph)
    assert gateway.get("/webhook", token=token).json()["data"] == {"webhook": "", "subscribe": ["All"], "secret": ""}

    r = gateway.post("/webhook", token=token, json={"webhookurl": "https://app.example/hook"})
    data = r.json()["data"]
    assert data["webhook"] == "https://app.example/hook"
    assert len(data["secret"]) >= 32  # generated when absent

    r = gateway.post("/webhook", token=token, json={"WebhookURL": "https://app.example/other"})
    assert r.json()["data"]["secret"] == data["secret"]  # kept, not silently rotated
    assert gateway.get("/webhook", token=token).json()["data"]["webhook"] == "https://app.example/other"

    for bad in (
        {"WebhookURL": "ftp://x/y"},
        {"WebhookURL": "not a url"},
        {"WebhookURL": 3},
        {},
        {"WebhookURL": "https://a.b/c", "Secret": "short"},
    ):
        r = gateway.post("/webhook", token=token, json=bad)
        assert r.status_code == 400, bad
    assert gateway.get("/webhook", token=token).json()["data"]["webhook"] == "https://app.example/other"

    r = gateway.post("/webhook", token=token, json={"WebhookURL": ""})
    assert r.json()["data"]["webhook"] == ""


def test_webhooks_to_metadata_addresses_are_refused_and_private_ones_need_the_setting(
    start_gateway: Callable[..., GatewayProcess], graph: GraphStandIn
) -> None:
    allowing = start_gateway()  # the testing kit allows private addresses, as the demo does
    refusing = start_gateway(webhook_allow_private=False)  # the default
    token = create_session(allowing, graph)  # one database: the same session on both

    def set_url(gw: GatewayProcess, url: str) -> dict:
        return gw.post("/webhook", token=token, json={"WebhookURL": url}).json()

    for gw in (allowing, refusing):
        for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/hook"):
            r = set_url(gw, url)
            assert r["code"] == 400 and "link-local or cloud metadata address, never allowed" in r["error"], r
    for url in ("http://10.0.0.1/hook", "http://127.0.0.1:9/hook", "http://localhost:9/hook"):
        r = set_url(refusing, url)
        assert r["code"] == 400 and "set CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE=true" in r["error"], r
        assert set_url(allowing, url)["data"]["webhook"] == url
    assert set_url(refusing, "https://93.184.216.34/hook")["code"] == 200  # set only: nothing is sent here
    assert refusing.get("/webhook", token=token).json()["data"]["webhook"] == "https://93.184.216.34/hook"


def test_docs_list_every_route(shared_gateway: GatewayProcess) -> None:
    assert shared_gateway.client.get("/docs").status_code == 200
    paths = shared_gateway.client.get("/openapi.json").json()["paths"]
    for _, path in SESSION_ROUTES + ADMIN_ROUTES + [("GET", "/health")]:
        assert path in paths


def test_request_ids_are_echoed_or_made(shared_gateway: GatewayProcess) -> None:
    client = shared_gateway.client
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-ID": "bad id"}).headers["x-request-id"]
    assert made and made != "bad id"
