"""Meta's Graph API errors, as statuses and words an app can act on (codes from Meta's "Troubleshoot WhatsApp
Calling Errors" page; the emulator sends them the same way)."""

from __future__ import annotations

import pytest

from callbridge.connectors.cloud.connector import translate
from callbridge.connectors.cloud.graph import GraphError
from callbridge.errors import Conflict, Forbidden, GatewayError, InvalidRequest, TooManyRequests, UpstreamError
from tests.support.gateway import GatewayProcess


@pytest.mark.parametrize(
    ("status", "code", "passed_through", "kind", "words"),
    [
        (400, 138006, False, Forbidden, "no call permission from 15550001111"),
        (401, 138000, False, Conflict, "calling is not enabled"),
        (400, 138003, False, Conflict, "already going on"),
        (400, 138009, False, TooManyRequests, "too many call permission requests"),
        (400, 138012, False, TooManyRequests, "too many calls"),
        (400, 138017, False, Conflict, "permanent call permission"),
        (400, 131055, False, Conflict, "SIP"),
        (429, 130429, False, TooManyRequests, "rate limit"),
        (400, 613, False, TooManyRequests, "rate limit"),
        (400, 100, True, InvalidRequest, "found the request to act invalid"),
        (400, 100, False, UpstreamError, "refused to act"),  # our own request was wrong: a 500, not the app's fault
        (0, None, False, UpstreamError, "could not reach"),
    ],
)
def test_meta_errors_become_statuses_the_app_can_act_on(
    status: int, code: int | None, passed_through: bool, kind: type[GatewayError], words: str
) -> None:
    with pytest.raises(kind) as raised:
        translate(GraphError(status, "Meta's message", code=code), "act", "15550001111", passed_through)
    assert words in raised.value.message
    if code is not None:
        assert str(code) in raised.value.message  # the code stays, for Meta's troubleshooting page


def test_nul_characters_are_refused_before_they_reach_the_database(shared_gateway: GatewayProcess) -> None:
    """PostgreSQL's text cannot hold NUL: such input gets a 400, never a 500 from the database."""
    r = shared_gateway.post("/session/init", admin=True, json={"Name": "a\x00b", "Token": "nul-token"})
    assert r.status_code == 400 and r.json()["error"] == "invalid Name: must not contain NUL characters"
    r = shared_gateway.post("/session/init", admin=True, json={"Name": "nul-check", "Token": "nul-check-token"})
    assert r.status_code == 200, r.text
    r = shared_gateway.get("/call/status", token="nul-check-token", params={"CallID": "a\x00b"})
    assert r.status_code == 400 and "NUL" in r.json()["error"]
