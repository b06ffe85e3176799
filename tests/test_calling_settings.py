"""The number's calling settings through the gateway (Graph ``/{phone-number-id}/settings``, Meta's "Configure
Call Settings" page): read, changed field by field, and refused with a 400 when the change makes no sense."""

from __future__ import annotations

from tests.support.emulator import Scene


def test_calling_settings_are_read_and_changed_field_by_field(scene: Scene) -> None:
    r = scene.gateway.get("/call/settings", token=scene.token)
    assert r.status_code == 200, r.text
    before = r.json()["data"]
    assert before["Status"] == "ENABLED" and before["calling"]["status"] == "ENABLED"
    r = scene.post("/call/settings", {"CallbackPermissionStatus": "DISABLED", "CallIconVisibility": "DISABLE_ALL"})
    assert r.status_code == 200, r.text
    after = r.json()["data"]
    assert (after["CallbackPermissionStatus"], after["CallIconVisibility"], after["Status"]) == (
        "DISABLED",
        "DISABLE_ALL",
        "ENABLED",  # untouched
    )
    assert scene.gateway.get("/call/settings", token=scene.token).json()["data"] == after


def test_bad_settings_are_refused_and_change_nothing(scene: Scene) -> None:
    before = scene.gateway.get("/call/settings", token=scene.token).json()["data"]
    for body, message in (
        ({}, "nothing to change"),
        ({"Status": "MAYBE"}, "Status"),
        ({"CallHours": "always"}, "CallHours"),
    ):
        r = scene.post("/call/settings", body)
        assert r.status_code == 400 and message in r.json()["error"], (body, r.text)
    assert scene.gateway.get("/call/settings", token="wrong").status_code == 401
    assert scene.gateway.get("/call/settings", token=scene.token).json()["data"] == before
