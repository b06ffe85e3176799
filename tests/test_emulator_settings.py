"""A number's calling settings (``/{phone-number-id}/settings``) and what they allow. Meta's "Configure Call
Settings" page (developers.facebook.com/documentation/business-messaging/whatsapp/calling/call-settings, Mar 2026)
for the ``calling`` object, its rules and their effect; the troubleshooting page for 138000 "Calling not
enabled" (HTTP 401) and 131055 (Graph calls on a SIP-enabled number, HTTP 400)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from callbridge.emulator.calling_settings import DAYS, CallingSettings, open_at
from callbridge.emulator.errors import EmulatorError
from callbridge.testing import Emulator
from tests.test_emulator_kit import Business, BusinessLeg, MetaSink

TODAY = dt.date(2026, 3, 2)  # a Monday
ALL_DAY = {"start_time": "0000", "end_time": "2359"}


def hours(*weekly: tuple[str, str, str], holidays: list[dict[str, str]] | None = None) -> dict[str, Any]:
    entries = [{"day_of_week": d, "open_time": o, "close_time": c} for d, o, c in weekly]
    body: dict[str, Any] = {"status": "ENABLED", "timezone_id": "America/Manaus", "weekly_operating_hours": entries}
    if holidays is not None:
        body["holiday_schedule"] = holidays
    return body


def test_call_hours_open_and_close_in_the_businesss_timezone() -> None:
    monday = hours(("MONDAY", "0400", "1020"), holidays=[{"date": "2026-03-09", **ALL_DAY}])
    manaus = dt.timezone(dt.timedelta(hours=-4))
    assert open_at(monday, dt.datetime(2026, 3, 2, 5, 0, tzinfo=manaus))
    assert not open_at(monday, dt.datetime(2026, 3, 2, 10, 20, tzinfo=manaus))  # closing time is closed
    assert not open_at(monday, dt.datetime(2026, 3, 3, 5, 0, tzinfo=manaus))  # Tuesday
    assert not open_at(monday, dt.datetime(2026, 3, 9, 5, 0, tzinfo=manaus))  # the holiday
    assert open_at({"status": "DISABLED"}, dt.datetime(2026, 3, 3, 5, 0, tzinfo=manaus))  # open around the clock


@pytest.mark.parametrize(
    ("calling", "words"),
    [
        ({"status": "ON"}, "status"),
        ({"call_icon_visibility": "HIDDEN"}, "call_icon_visibility"),
        ({"call_hours": {**hours(("MONDAY", "0400", "1020")), "timezone_id": "Mars/Olympus"}}, "Timezone"),
        ({"call_hours": hours()}, "cannot be empty"),
        ({"call_hours": hours(("MONDAY", "1000", "0900"))}, "before"),
        ({"call_hours": hours(("MONDAY", "0900", "1200"), ("MONDAY", "1100", "1300"))}, "Overlapping"),
        ({"call_hours": hours(*[("MONDAY", f"0{h}00", f"0{h}30") for h in range(3)])}, "More than 2"),
        ({"call_hours": hours(("FUNDAY", "0900", "1000"))}, "day_of_week"),
        ({"call_hours": hours(("MONDAY", "9am", "1000"))}, "HHMM"),
        (
            {
                "call_hours": hours(
                    ("MONDAY", "0900", "1000"),
                    holidays=[{"date": "2026-03-01", **ALL_DAY}],
                )
            },
            "past date",
        ),
        ({"sip": {"servers": []}}, "sip"),
    ],
)
def test_invalid_settings_are_refused_and_change_nothing(calling: dict[str, Any], words: str) -> None:
    settings = CallingSettings()
    with pytest.raises(EmulatorError) as refused:
        settings.update({**calling, "callback_permission_status": "DISABLED"}, today=TODAY)
    assert refused.value.code == 100 and words in (refused.value.details or "")
    assert settings == CallingSettings()


# ---- over HTTP ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sink() -> Iterator[MetaSink]:
    with MetaSink() as sink:
        yield sink


def test_settings_are_read_and_written_as_metas_calling_object(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink)
    calling = business.graph("GET", "settings").json()["calling"]
    assert calling["status"] == "ENABLED"  # numbers registered through the control API can call
    assert calling["call_icon_visibility"] == "DEFAULT" and calling["callback_permission_status"] == "ENABLED"
    assert calling["call_hours"] == {"status": "DISABLED"} and calling["sip"]["status"] == "DISABLED"
    tomorrow = DAYS[(dt.date.today().weekday() + 1) % 7]
    weekly = hours((tomorrow, "0900", "1700"))
    update = {"call_icon_visibility": "DISABLE_ALL", "call_hours": weekly}
    r = business.graph("POST", "settings", {"calling": update})
    assert r.status_code == 200 and r.json() == {"success": True}
    calling = business.graph("GET", "settings").json()["calling"]
    assert calling["call_icon_visibility"] == "DISABLE_ALL"
    assert calling["call_hours"]["weekly_operating_hours"] == weekly["weekly_operating_hours"]
    assert calling["call_hours"]["holiday_schedule"] == []  # Meta: left out means emptied
    r = business.graph("POST", "settings", {"calling": {"status": "MAYBE"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == 100


def test_a_user_cannot_call_outside_call_hours_or_a_hidden_call_button(emulator: Emulator, sink: MetaSink) -> None:
    """Call hours: "User-initiated calls are unavailable outside of the weekly hours"; DISABLE_ALL: "Consumers
    cannot make unsolicited calls to the business". The user's app does not place the call: no webhook."""
    tomorrow = DAYS[(dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-4))).weekday() + 1) % 7]
    business = Business(emulator, sink, calling={"call_hours": hours((tomorrow, "0000", "2359"))})
    yuri = business.user()
    r = business.user_calls(yuri)
    assert r.status_code == 409 and "call hours" in r.json()["error"]
    assert business.webhooks("calls") == []
    r = business.graph("POST", "settings", {"calling": {"call_hours": {"status": "DISABLED"}}})
    assert r.status_code == 200, r.text
    r = business.user_calls(yuri)
    assert r.status_code == 200, r.text  # open around the clock
    business.emulator.client.post(f"/emulator/calls/{r.json()['call_id']}/hangup")
    business.graph("POST", "settings", {"calling": {"call_icon_visibility": "DISABLE_ALL"}})
    r = business.user_calls(yuri)
    assert r.status_code == 409 and "DISABLE_ALL" in r.json()["error"]


async def test_calling_not_enabled_is_138000_with_http_401(emulator: Emulator, sink: MetaSink) -> None:
    business = Business(emulator, sink, calling={"status": "DISABLED"})
    zoe = business.user()
    leg = BusinessLeg()
    try:
        refusals = [
            await asyncio.to_thread(business.connect, zoe, await leg.offer()),
            await asyncio.to_thread(
                business.graph,
                "POST",
                "messages",
                {
                    "messaging_product": "whatsapp",
                    "to": zoe,
                    "type": "interactive",
                    "interactive": {"type": "call_permission_request", "action": {"name": "call_permission_request"}},
                },
            ),
            await asyncio.to_thread(business.graph, "GET", "call_permissions", user_wa_id=zoe),
        ]
        for r in refusals:
            assert r.status_code == 401 and r.json()["error"]["code"] == 138000, r.text
        r = await asyncio.to_thread(business.user_calls, zoe)
        assert r.status_code == 409 and "not enabled" in r.json()["error"]
        await asyncio.to_thread(business.graph, "POST", "settings", {"calling": {"status": "ENABLED"}})
        r = await asyncio.to_thread(business.connect, zoe, await leg.offer())
        assert r.status_code == 200, r.text
        await asyncio.to_thread(business.calls, {"call_id": r.json()["calls"][0]["id"], "action": "terminate"})
    finally:
        await leg.close()


def test_a_sip_number_refuses_graph_calls_with_131055(emulator: Emulator, sink: MetaSink) -> None:
    """Settings page: "When SIP is enabled, you cannot use calling related endpoints"."""
    sip = {"status": "ENABLED", "servers": [{"hostname": "sip.example.com", "port": 5061}]}
    business = Business(emulator, sink, calling={"sip": sip})
    r = business.calls({"call_id": "wacid.x", "action": "terminate"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 131055
    assert business.user_calls(business.user()).status_code == 409
