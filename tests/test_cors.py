"""CORS: a page served from another origin uses the gateway only when CALLBRIDGE_CORS_ORIGINS lists that origin.

The preflight checks run on the app in process (preflights never reach a route, so no gateway needs to start). The
browser test serves a page from a second 127.0.0.1 port; with the origin listed, the page imports the SDK from the
gateway and completes a call in Chromium with audio both ways (FFT on each side) and the call's event stream;
with no origin listed, the browser refuses: the SDK cannot be imported from the gateway, and a copy served by the
page's own origin fails on its first request with Chromium's CORS error."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from callbridge.app import WEB_DIR, create_app
from callbridge.config import Settings
from callbridge.testing import Emulator, Gateway, Scene
from tests.support.chromium import REMOTE_PEAK_JS, chromium, microphone_wav
from tests.support.database import SECRET_KEY
from tests.support.net import wait_until
from tests.support.turn import Coturn

ALLOWED = "https://crm.example.com"
SECRET = "coturn-secret-for-the-cors-test"
# Method, path and the headers the SDK (or an app) sends with it.
REQUESTS = [
    ("GET", "/call/webrtc/config", "token"),
    ("POST", "/call/webrtc/offer", "content-type,token"),
    ("GET", "/call/events?CallID=x", "accept,token"),
    ("POST", "/call/make", "content-type,token"),
    ("GET", "/files/calls/x.wav", "range,token"),
    ("DELETE", "/files/x.wav", "token"),
    ("POST", "/session/init", "admintoken,content-type"),
    ("GET", "/sdk/callbridge.js", ""),
]


def app_with(tmp: Path, **settings: Any) -> FastAPI:
    return create_app(Settings(data_dir=tmp, files_dir=tmp, secret_key=SECRET_KEY, **settings), "admin")


def preflight(app: FastAPI, origin: str, method: str, path: str, headers: str) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            asked = {"Origin": origin, "Access-Control-Request-Method": method}
            if headers:
                asked["Access-Control-Request-Headers"] = headers
            return await client.options(path, headers=asked)

    return asyncio.run(send())


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize(("method", "path", "headers"), REQUESTS)
def test_preflight_for_a_listed_origin_on_every_route(tmp_path: Path, method: str, path: str, headers: str) -> None:
    app = app_with(tmp_path, cors_origins=f"{ALLOWED}/, http://127.0.0.1:9")
    r = preflight(app, ALLOWED, method, path, headers)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert method in r.headers["access-control-allow-methods"].split(", ")
    allowed = {h.lower() for h in r.headers["access-control-allow-headers"].split(", ")}
    assert {h for h in headers.split(",") if h} <= allowed
    assert "access-control-allow-credentials" not in r.headers  # tokens travel in headers, not cookies


@pytest.mark.parametrize(("method", "path", "headers"), REQUESTS[:3])
def test_an_unlisted_origin_gets_no_cors_headers(tmp_path: Path, method: str, path: str, headers: str) -> None:
    listed = app_with(tmp_path, cors_origins=ALLOWED)
    for app, origin in (
        (listed, "https://evil.example.com"),
        (listed, ALLOWED + ".evil.com"),
        (app_with(tmp_path), ALLOWED),
    ):
        r = preflight(app, origin, method, path, headers)
        assert cors_headers(r) == {}, (origin, r.headers)
        assert r.status_code == 405  # answered as without CORS: no route takes OPTIONS


def test_answers_carry_the_origin_only_for_a_listed_one(tmp_path: Path) -> None:
    """The answer itself (after the preflight, or with none, as for a script) names the origin it is for."""

    async def fetch(app: FastAPI, origin: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            return await client.get("/sdk/callbridge.js", headers={"Origin": origin})

    listed = app_with(tmp_path, cors_origins=ALLOWED)
    r = asyncio.run(fetch(listed, ALLOWED))
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ALLOWED
    assert "X-Request-ID" in r.headers["access-control-expose-headers"]
    assert "Origin" in r.headers["vary"]
    for app, origin in ((listed, "https://evil.example.com"), (app_with(tmp_path), ALLOWED)):
        r = asyncio.run(fetch(app, origin))
        assert r.status_code == 200 and cors_headers(r) == {}, (origin, r.headers)


# In the page: the SDK, imported from `sdk` (the gateway's, or a copy from the page's origin), joins the call.
JOIN_JS = """
async ({ sdk, gateway, callId, token }) => {
  const { CallbridgeCall } = await import(sdk);
  const audio = document.body.appendChild(document.createElement("audio")); // Chromium plays remote audio
  audio.autoplay = true; // to WebAudio only while a media element plays it too
  const call = new CallbridgeCall({ callId, token, baseUrl: gateway, audio, iceTransportPolicy: "relay" });
  window.softphone = { audio: call };
  window.levels = 0;
  call.addEventListener("levels", () => { window.levels += 1; });
  try {
    await call.join();
    return { joined: true };
  } catch (error) {
    return { joined: false, name: error.name, message: error.message, code: error.code ?? null };
  }
}
"""

IMPORT_JS = """
async (sdk) => {
  try {
    await import(sdk);
    return "imported";
  } catch (error) {
    return `${error.name}: ${error.message}`;
  }
}
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another origin: a static site on its own 127.0.0.1 port, with a page and its own copy of the SDK."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text("<!doctype html><title>an app elsewhere</title><h1>CRM</h1>")
    (root / "vendor").mkdir()
    for name in ("callbridge.js", "event-stream.js"):
        shutil.copy(WEB_DIR / name, root / "vendor" / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn-cors"), SECRET).start()
    yield server
    server.stop()


def user_hears(scene: Scene, call_id: str, hz: float) -> bool:
    heard = scene.emulator.call(call_id, last=1.0)["heard"]
    return heard["dominant_hz"] is not None and abs(heard["dominant_hz"] - hz) <= 5 and heard["rms_dbfs"] > -40


def live_call(gateway: Gateway, emulator: Emulator) -> tuple[Scene, str, str]:
    """A call with Alice saying 440 Hz, and a talk call token for it (what an app's server hands its page)."""
    scene = Scene(gateway, emulator).setup()
    call_id = scene.make_call(scene.user(answer_after_ms=0, say="tone:440", name="Alice"))
    scene.wait_state(call_id, "active")
    r = scene.post("/call/webrtc/token", {"CallID": call_id})
    assert r.status_code == 200, r.text
    return scene, call_id, r.json()["data"]["token"]


@pytest.mark.browser
def test_a_page_from_another_origin_calls_only_when_its_origin_is_listed(
    start_gateway,
    call_gateway: Gateway,
    emulator: Emulator,
    turn: Coturn,
    site: str,
    tmp_path: Path,
) -> None:
    listed = start_gateway(
        ice_hosts="127.0.0.1", ice_servers=json.dumps([{"urls": turn.urls}]), turn_secret=SECRET, cors_origins=site
    )
    scene, call_id, token = live_call(listed, emulator)

    with chromium(microphone_wav(tmp_path / "mic660.wav", 660)) as browser:
        # Listed: the page imports the SDK from the gateway and talks.
        page = browser.new_page()
        page.goto(f"{site}/")
        assert page.evaluate("() => location.origin") == site != listed.url
        args = {"sdk": f"{listed.url}/sdk/callbridge.js", "gateway": listed.url, "callId": call_id, "token": token}
        assert page.evaluate(JOIN_JS, args) == {"joined": True}
        wait_until(lambda: user_hears(scene, call_id, 660), timeout=15, what="Alice to hear the page's 660 Hz")
        peak = page.evaluate(REMOTE_PEAK_JS)
        assert peak["hz"] == pytest.approx(440, abs=6), peak  # 5.9 Hz bins at 48 kHz / 8192
        wait_until(lambda: page.evaluate("() => window.levels") > 0, timeout=10, what="the call's events")
        page.evaluate("() => window.softphone.audio.leave()")
        wait_until(lambda: scene.call_status(call_id)["Endpoints"] == [], timeout=10, what="the page to leave")
        page.close()

        # Not listed (the default: no CALLBRIDGE_CORS_ORIGINS): the browser refuses.
        scene, call_id, token = live_call(call_gateway, emulator)
        page = browser.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"{site}/")
        refused = page.evaluate(IMPORT_JS, f"{call_gateway.url}/sdk/callbridge.js")
        assert refused.startswith("TypeError"), refused  # the module itself may not be loaded from there
        args = {"sdk": f"{site}/vendor/callbridge.js", "gateway": call_gateway.url, "callId": call_id, "token": token}
        failed = page.evaluate(JOIN_JS, args)
        # fetch() rejects with a TypeError and no HTTP status: the page may not read the gateway's answer.
        assert failed["joined"] is False and failed["name"] == "TypeError", failed
        assert failed["code"] is None, failed
        blocked = [line for line in console if "blocked by CORS policy" in line]
        assert any(f"{call_gateway.url}/call/webrtc/config" in line for line in blocked), console
        assert any(f"{call_gateway.url}/sdk/callbridge.js" in line for line in blocked), console
        assert scene.call_status(call_id)["Endpoints"] == []  # nothing joined
        scene.post("/call/end", {"CallID": call_id})
