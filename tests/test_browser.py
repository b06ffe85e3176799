"""A real browser: Debian's Chromium with a 660 Hz microphone, on the softphone page through TURN, joined to a
WhatsApp call with a call token. Audio is checked on both sides, by FFT and by a WebAudio AnalyserNode; tokens
are checked to stay out of every URL the page uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.chromium import REMOTE_PEAK_JS, STATS_JS, chromium, microphone_wav
from tests.support.emulator import EmulatorProcess, Scene
from tests.support.net import wait_until
from tests.support.receiver import Receiver
from tests.support.turn import Coturn

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
SECRET = "coturn-secret-for-the-browser-test"


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn-browser"), SECRET).start()
    yield server
    server.stop()


def user_hears(scene: Scene, call_id: str, hz: float) -> bool:
    heard = scene.emulator.call(call_id, last=1.0)["heard"]
    return heard["dominant_hz"] is not None and abs(heard["dominant_hz"] - hz) <= 5 and heard["rms_dbfs"] > -40


def page_hears(page: Page) -> dict:
    return page.evaluate(REMOTE_PEAK_JS)


def test_softphone_in_chromium_speaks_and_listens_through_turn(
    start_gateway,
    emulator: EmulatorProcess,
    receiver: Receiver,
    turn: Coturn,
    tmp_path: Path,
) -> None:
    gateway = start_gateway(ice_hosts="127.0.0.1", ice_servers=json.dumps([{"urls": turn.urls}]), turn_secret=SECRET)
    scene = Scene(gateway, emulator, receiver).setup()
    wa_id = scene.user(answer_after_ms=0, say="tone:440", name="Alice")
    call_id = scene.post("/call/make", {"Phone": wa_id}).json()["data"]["call"]["CallID"]
    scene.wait_event(call_id, "CallAccept")

    with chromium(microphone_wav(tmp_path / "mic660.wav", 660)) as browser:
        page = browser.new_page()
        # What the SDK sends (minting the call token, /call/webrtc/token, is the console's job, not the SDK's).
        sdk_tokens: list[str] = []
        page.on(
            "request",
            lambda request: (
                sdk_tokens.append(request.headers.get("token") or request.url.split("token=")[-1])
                if any(p in request.url for p in ("/call/webrtc/config", "/call/webrtc/offer", "/call/events?CallID"))
                else None
            ),
        )
        # Every request the page makes: its URL and the Referer it carries (both end up in proxies' logs).
        requests: list[tuple[str, str]] = []
        page.on("request", lambda request: requests.append((request.url, request.headers.get("referer", ""))))
        page.goto(f"{gateway.url}/?token={scene.token}&relay=1&raw=1")
        row = page.locator(f'li[data-call-id="{call_id}"]')
        expect(row).to_contain_text(wa_id)  # the calls came on the page's event stream
        assert page.url == f"{gateway.url}/?relay=1&raw=1"  # the token was read, then dropped from the address bar
        row.get_by_role("button", name="Join audio").click()
        expect(page.locator("#audio-state")).to_have_text("connected", timeout=15000)

        wait_until(lambda: user_hears(scene, call_id, 660), timeout=10, what="the user to hear the browser's 660 Hz")
        peak = page_hears(page)
        assert peak["hz"] == pytest.approx(440, abs=6), peak  # 5.9 Hz bins at 48 kHz / 8192
        stats = page.evaluate(STATS_JS)
        assert stats["received"] > 50 and stats["sent"] > 50, stats
        assert stats["local"] == "relay", stats  # the page really went through TURN

        # The session token never went to the browser routes: the SDK used a call token.
        assert sdk_tokens and all(t.startswith("cbt.") for t in sdk_tokens), sdk_tokens

        expect(page.locator("#remote-level")).not_to_have_attribute("value", "0", timeout=5000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "softphone-in-call.png"), full_page=True)

        # A reload mid-call joins again, and audio resumes both ways.
        page.reload()
        expect(page.locator("#audio-state")).to_have_text("connected", timeout=15000)
        scene.wait_event(call_id, "CallState", Event="browser_gone")
        wait_until(lambda: user_hears(scene, call_id, 660), timeout=10, what="660 Hz again after the reload")
        assert page_hears(page)["hz"] == pytest.approx(440, abs=6)
        assert scene.call_status(call_id)["State"] == "active"

        page.locator("#hangup").click()
        scene.wait_event(call_id, "CallTerminate")
        expect(page.locator("#audio-panel")).to_be_hidden(timeout=10000)
        expect(row).to_have_count(0)  # the session's stream told the list the call ended

        # No request after the first load had a token in its URL or Referer (event streams send it in a header).
        assert requests[0][0].startswith(f"{gateway.url}/?token=")  # the address typed in
        streams = [url for url, _ in requests if "/call/events" in url]
        assert len(streams) >= 4, streams  # the page's and the SDK's, before and after the reload
        leaked = [(url, referer) for url, referer in requests[1:] if "token=" in url or "token=" in referer]
        assert leaked == []
