"""Schemathesis hooks for tests/test_openapi_fuzz.py, loaded by the `schemathesis` process (SCHEMATHESIS_HOOKS).

They keep every byte the fuzz makes the gateway send on 127.0.0.1, and aim some requests at what exists:
- a URL the gateway would later call (``WebhookURL``, a session's ``GraphURL``, any key spelling, any depth)
  is replaced with the local webhook receiver or the emulator, whatever was generated, and a new session's
  ``Cloud`` without a ``GraphURL`` (Meta's by default) gets the emulator's;
- ``POST /session/delete`` names a throwaway session, not the one the run signs in with;
- half of the requests name the live call and an audio file that exists, so that the media routes are fuzzed
  past "unknown call"; /call/end and /call/reject never name it (Schemathesis reuses IDs it has seen in
  answers), so that it stays up for the whole run.
Settings come from CALLBRIDGE_FUZZ_* variables (see the test).
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any
from urllib.parse import urlsplit

import schemathesis
from schemathesis import Case, HookContext

LOCAL_URLS = {
    "webhookurl": os.environ.get("CALLBRIDGE_FUZZ_WEBHOOK_URL", ""),
    "graphurl": os.environ.get("CALLBRIDGE_FUZZ_GRAPH_URL", ""),
}
DELETE_TOKEN = os.environ.get("CALLBRIDGE_FUZZ_DELETE_TOKEN", "")
CALL_ID = os.environ.get("CALLBRIDGE_FUZZ_CALL_ID", "")
AUDIO_FILE = os.environ.get("CALLBRIDGE_FUZZ_AUDIO_FILE", "")
CALL_ENDING = {"/call/end", "/call/reject"}
_turn = itertools.count()


@schemathesis.hook
def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    # The gateway on 127.0.0.1 is the only server the fuzz itself talks to.
    base_url = kwargs.get("base_url") or case.operation.base_url or ""
    assert urlsplit(base_url).hostname == "127.0.0.1", base_url
    case.body = _localised(case.body)
    if case.operation.path == "/session/init":
        case.body = _with_local_graph(case.body)
    if case.operation.path == "/session/delete":
        case.headers["token"] = DELETE_TOKEN  # case-insensitive: replaces the auth's `token`
    if case.operation.path in CALL_ENDING:
        case.body = _replaced(case.body, {"callid": "wacid.not-the-live-one"}, only=CALL_ID)
    elif next(_turn) % 2 == 0:
        existing = {"callid": CALL_ID, "audiofile": AUDIO_FILE}
        case.body = _replaced(case.body, existing)
        case.query = _replaced(case.query, existing)


def _localised(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _local_url(k, v) if isinstance(v, str) else _localised(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_localised(item) for item in body]
    if isinstance(body, str | bytes):
        # The gateway reads JSON whatever the Content-Type, so a body sent as text is JSON to it too.
        try:
            decoded = json.loads(body)
        except ValueError:
            return body
        localised = _localised(decoded)
        if localised == decoded:
            return body
        encoded = json.dumps(localised)
        return encoded.encode() if isinstance(body, bytes) else encoded
    return body


def _local_url(key: str, value: str) -> str:
    local = LOCAL_URLS.get(key.lower())
    return local if local and value else value


def _with_local_graph(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    clouds = [k for k, v in body.items() if isinstance(k, str) and k.lower() == "cloud" and isinstance(v, dict)]
    for key in clouds:
        if not any(isinstance(k, str) and k.lower() == "graphurl" for k in body[key]):
            body[key] = {**body[key], "GraphURL": LOCAL_URLS["graphurl"]}
    return body


def _replaced(values: Any, by_key: dict[str, str], only: str | None = None) -> Any:
    """``values`` with the strings under these keys (any spelling) replaced; with ``only``, that string only."""
    if not isinstance(values, dict):
        return values

    def new(key: str, value: Any) -> Any:
        replacement = by_key.get(key.lower()) if isinstance(key, str) else None
        if not replacement or not isinstance(value, str) or (only is not None and value != only):
            return value
        return replacement

    return {k: new(k, v) for k, v in values.items()}
