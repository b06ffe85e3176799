"""A caller presses 1, 2, #: three CallDTMF events, in order, to the webhook and to the call's event stream,
while the voice between the caller and the agent's browser stays Opus passthrough (nothing decoded or encoded).
The emulator presses keys as Meta's "User-initiated calls" page describes (RFC 4733 on telephone-event/8000)."""

from __future__ import annotations

import json
import threading
from asyncio import to_thread

import httpx

from tests.support.browser import PyBrowser, wait_for
from tests.support.emulator import Scene


def stream_events(scene: Scene, call_id: str, seen: list[tuple[str, dict]], stop: threading.Event) -> None:
    """The call's Server-Sent Events, as a page reads them (with the token in a header)."""
    headers = {"token": scene.token}
    with (
        httpx.Client(timeout=30, trust_env=False) as http,
        http.stream("GET", f"{scene.gateway.url}/call/events", params={"CallID": call_id}, headers=headers) as response,
    ):
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event not in ("levels", "progress"):
                seen.append((event, json.loads(line[len("data: ") :])))
            if stop.is_set():
                return


async def test_key_presses_reach_the_app_and_the_stream_while_the_voice_stays_passthrough(scene: Scene) -> None:
    caller = await to_thread(scene.user, say="tone:440")
    call_id = await to_thread(scene.user_calls, caller)
    await to_thread(scene.wait_event, call_id, "CallOffer")
    assert (await to_thread(scene.post, "/call/accept", {"CallID": call_id})).status_code == 200
    browser = PyBrowser(say_hz=660)
    seen: list[tuple[str, dict]] = []
    stop = threading.Event()
    reader = threading.Thread(target=stream_events, args=(scene, call_id, seen, stop), daemon=True)
    try:
        assert (await browser.join(scene.gateway.url, scene.token, call_id)).status_code == 200
        await to_thread(scene.wait_event, call_id, "CallState", Event="browser_connected")
        reader.start()
        await wait_for(lambda: browser.frames > 50, what="the caller's voice at the browser")
        r = await to_thread(
            scene.emulator.client.post, f"/emulator/calls/{call_id}/dtmf", json={"digits": "12#", "duration_ms": 160}
        )
        assert r.status_code == 200, r.text
        for digit in "12#":
            await to_thread(scene.wait_event, call_id, "CallDTMF", Digit=digit)
        assert [e["Digit"] for e in scene.events(call_id, "CallDTMF")] == ["1", "2", "#"]
        await wait_for(lambda: len([e for e, _ in seen if e == "CallDTMF"]) == 3, what="three keys on the stream")
        assert [data["Digit"] for event, data in seen if event == "CallDTMF"] == ["1", "2", "#"]
        stats = await to_thread(scene.gateway.get, "/call/stats", token=scene.token, params={"CallID": call_id})
        legs = stats.json()["data"]["legs"]
        assert legs["browser"]["outbound"]["forwarded"] > 50 and legs["browser"]["outbound"]["encoded"] == 0
        assert legs["whatsapp"]["outbound"]["encoded"] == 0 and legs["whatsapp"]["inbound"]["decoded"] == 0
    finally:
        stop.set()
        await browser.close()
        await to_thread(scene.post, "/call/end", {"CallID": call_id})
