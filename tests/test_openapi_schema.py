"""The OpenAPI schema's promises, read from the app without serving it (test_openapi_fuzz.py holds the server to
them): named security schemes, no 422, the statuses every route can get from the layers around it, and request
patterns that say exactly what the server takes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbridge.api.models import PHONE_PATTERN
from callbridge.app import create_app
from callbridge.calls.phone import normalize_phone
from callbridge.config import Settings
from callbridge.errors import InvalidRequest
from tests.support.database import SECRET_KEY

BODY_METHODS = {"post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("schema")
    app = create_app(Settings(data_dir=tmp, files_dir=tmp, secret_key=SECRET_KEY), "admin")
    return app.openapi()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_three_named_security_schemes(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert {name: (s["in"], s["name"]) for name, s in schemes.items()} == {
        "token": ("header", "token"),
        "tokenQuery": ("query", "token"),
        "admintoken": ("header", "admintoken"),
    }
    assert schema["paths"]["/session/status"]["get"]["security"] == [{"token": []}, {"tokenQuery": []}]
    assert schema["paths"]["/session/all"]["get"]["security"] == [{"admintoken": []}]
    assert schema["paths"]["/session/delete"]["post"]["security"] == [{"admintoken": [], "token": []}]


def test_no_422_anywhere(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        assert "422" not in op["responses"], (method, path)
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_route_documents_what_the_layers_around_it_answer(schema: dict[str, Any]) -> None:
    for method, path, op in operations(schema):
        statuses = set(op["responses"])
        if op.get("security"):
            assert "401" in statuses, (method, path)
        if method in BODY_METHODS:  # the body limit and the body timeout, whatever the route
            assert {"408", "413"} <= statuses, (method, path)
        if "requestBody" in op:
            assert "400" in statuses, (method, path)


def test_errors_are_wagos_envelope(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(error["required"]) == {"code", "error", "success"}
    refused = schema["paths"]["/call/accept"]["post"]["responses"]["409"]
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}


def _server_takes(phone: str) -> bool:
    try:
        normalize_phone(phone)
    except InvalidRequest:
        return False
    return True


PHONE = re.compile(PHONE_PATTERN)
PHONE_CHARS = st.sampled_from([*"0123456789 +-().@:sx\t", "٣", "²"])


@settings(max_examples=2000, deadline=None, database=None)
@given(st.text(PHONE_CHARS, max_size=30))
def test_the_phone_pattern_is_what_the_server_takes(phone: str) -> None:
    assert bool(PHONE.match(phone)) == _server_takes(phone)


@settings(max_examples=300, deadline=None, database=None)
@given(st.from_regex(PHONE_PATTERN, fullmatch=True))
def test_what_the_phone_pattern_allows_is_taken(phone: str) -> None:
    assert _server_takes(phone.strip()) or len(phone.strip()) > 64


@pytest.mark.parametrize("phone", ["15551234567", "+1 (555) 123-4567", "15551234567:3@s.whatsapp.net"])
def test_phone_numbers_taken(phone: str) -> None:
    assert PHONE.match(phone) and _server_takes(phone)


@pytest.mark.parametrize("phone", ["1555²234567", "١٥٥٥١٢٣٤٥٦٧", "12345", "1+5551234567", "++15551234567"])
def test_phone_numbers_refused(phone: str) -> None:
    assert not PHONE.match(phone) and not _server_takes(phone)
