"""The agent's workspace in a real browser: Debian's Chromium on the softphone page, through TURN as in
test_browser.py, against the emulator's Alice. An incoming call rings (Web Audio) and is answered with a key, talks
both ways (FFT) and shows why it ended and in the recent calls; an outgoing call joins audio when answered, shows
the keys Alice presses and holds; a refused token stops; a recording with a consent announcement is listed and
plays; a supervisor link listens without being heard; a warm transfer hands the call to a second page.
Screenshots of each view go to test-artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver
from tests.conftest import new_gateway
from tests.support.audio_files import write_tone
from tests.support.chromium import CHROMIUM, FLAGS, REMOTE_PEAK_JS, microphone_wav
from tests.support.database import fresh_database
from tests.support.net import wait_until
from tests.support.turn import Coturn

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
SECRET = "coturn-secret-for-the-softphone-test"
ANNOUNCE_HZ = 1000
DECIBELS = re.compile(r"^-?\d+ dB$")
CLOCK = re.compile(r"^\d+:\d\d$")

# In the page: the level (dB) of the remote audio at each frequency asked, by a WebAudio AnalyserNode.
TONES_JS = """
async (tones) => {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  context.createMediaStreamSource(window.softphone.audio.remoteStream).connect(analyser);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const at = (hz) => {
    const i = Math.round(hz * analyser.fftSize / context.sampleRate);
    return Math.max(bins[i - 1], bins[i], bins[i + 1]);
  };
  await context.close();
  return Object.fromEntries(tones.map((hz) => [hz, at(hz)]));
}
"""

# In the page: the ring's dominant frequency (its AnalyserNode) and whether its audio runs.
RING_JS = """
() => {
  const { analyser, context, active } = window.softphone.ring;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { active, state: context.state, hz: best * context.sampleRate / analyser.fftSize, db: bins[best] };
}
"""


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    server = Coturn(tmp_path_factory.mktemp("coturn-softphone"), SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, turn: Coturn) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("softphone")
    (tmp / "files").mkdir()
    write_tone(tmp / "files" / "consent.wav", ANNOUNCE_HZ, 1.5)
    write_tone(tmp / "files" / "hold.mp3", 550, 2.0)
    ice = {"ice_hosts": "127.0.0.1", "ice_servers": json.dumps([{"urls": turn.urls}]), "turn_secret": SECRET}
    with fresh_database(tmp) as url, new_gateway(tmp, url, **ice) as gw:
        yield gw


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def scene(gateway: Gateway, emulator: Emulator, hook: WebhookReceiver) -> Scene:
    return Scene(gateway, emulator, hook).setup()


@pytest.fixture(scope="module")
def browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Browser]]:
    """Two Chromiums, one whose microphone says 660 Hz (the agent) and one 880 Hz (a supervisor, a second agent)."""
    tmp = tmp_path_factory.mktemp("microphones")
    with sync_playwright() as playwright:
        launched = {
            hz: playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*FLAGS, f"--use-file-for-fake-audio-capture={microphone_wav(tmp / f'mic{hz}.wav', hz)}"],
            )
            for hz in (660, 880)
        }
        try:
            yield launched
        finally:
            for browser in launched.values():
                browser.close()


def softphone(browser: Browser, scene: Scene, width: int = 1100) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{scene.gateway.url}/?token={scene.token}&relay=1&raw=1")
    expect(page.locator("#connection")).to_have_text("online")
    return page


def user_hears(scene: Scene, call_id: str, hz: float) -> bool:
    heard = scene.heard(call_id, last=1.0)
    return any(abs(peak - hz) <= 5 for peak in heard["peaks_hz"]) and heard["rms_dbfs"] > -40


def page_hears(page: Page, hz: float) -> bool:
    return bool(abs(page.evaluate(REMOTE_PEAK_JS)["hz"] - hz) <= 6)  # 5.9 Hz bins at 48 kHz / 8192


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"softphone-{name}.png"), full_page=True)


def answered_call(scene: Scene, page: Page) -> tuple[str, str]:
    """Alice (440 Hz) calls; the page answers; the audio is connected both ways. (wa_id, call_id)"""
    alice = scene.user(say="tone:440", name="Alice")
    call_id = scene.user_calls(alice)
    page.locator("#answer").click()
    expect(page.locator("#audio-state")).to_have_text("connected", timeout=15000)
    wait_until(lambda: user_hears(scene, call_id, 660), timeout=10, what="Alice to hear the agent's 660 Hz")
    return alice, call_id


def test_incoming_call_rings_is_answered_with_a_key_talks_and_shows_why_it_ended(browsers, scene: Scene) -> None:
    page = softphone(browsers[660], scene)
    alice = scene.user(say="tone:440", name="Alice")
    call_id = scene.user_calls(alice)

    expect(page.locator("#incoming")).to_be_visible()
    expect(page.locator("#incoming-who")).to_have_text(f"Alice ({alice})")
    expect(page).to_have_title(f"☎ Incoming call: Alice ({alice})")
    ringing = page.evaluate(RING_JS)  # the two-tone ring (440 + 480 Hz), made in the page, really sounding
    assert ringing["active"] and ringing["state"] == "running", ringing
    assert ringing["hz"] == pytest.approx(440, abs=50) and ringing["db"] > -60, ringing
    shot(page, "incoming")

    page.keyboard.press("a")  # A answers, and the audio joins at once
    expect(page.locator("#audio-state")).to_have_text("connected", timeout=15000)
    expect(page.locator("#incoming")).to_be_hidden()
    assert page.evaluate(RING_JS)["active"] is False
    expect(page).to_have_title("callbridge softphone")
    wait_until(lambda: user_hears(scene, call_id, 660), timeout=10, what="Alice to hear the agent's 660 Hz")
    wait_until(lambda: page_hears(page, 440), timeout=10, what="the page to hear Alice's 440 Hz")

    expect(page.locator("#call-who")).to_have_text("Alice")
    expect(page.locator("#call-phone")).to_have_text(alice)
    expect(page.locator("#call-timer")).not_to_have_text("0:00", timeout=3000)
    expect(page.locator("#remote-db")).to_have_text(DECIBELS)
    expect(page.locator("#mic-db")).to_have_text(DECIBELS)
    page.keyboard.press("m")  # M mutes
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("m")
    expect(page.locator("#mute")).to_have_attribute("aria-pressed", "false")
    shot(page, "in-call-panel")

    r = scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")
    assert r.status_code == 200, r.text
    reason = scene.wait_state(call_id, "ended")["EndReason"]
    expect(page.locator("#audio-panel")).to_be_hidden(timeout=10000)
    expect(page.locator("#notice")).to_have_text(f"Call with Alice ({alice}) ended: {reason}")
    recent = page.locator(f'#recent li[data-history-id="{call_id}"]')
    expect(recent).to_contain_text(reason)
    expect(recent.locator(".direction")).to_have_attribute("aria-label", "incoming")
    expect(recent.locator(".duration")).to_have_text(CLOCK)
    expect(page.locator(f'#calls li[data-call-id="{call_id}"]')).to_have_count(0)
    shot(page, "history")
    page.close()


# Before the page's scripts: the tab is hidden, and notifications are allowed and recorded (headless Chromium
# shows none).
HIDDEN_TAB_JS = """
Object.defineProperty(document, "hidden", { get: () => true });
window.shown = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) {
    this.i = window.shown.push({ title, body: options.body, open: true }) - 1;
  }
  close() { window.shown[this.i].open = false; }
};
"""


def test_a_hidden_tab_is_notified_and_h_rejects(browsers, scene: Scene) -> None:
    context = browsers[660].new_context()
    context.add_init_script(HIDDEN_TAB_JS)
    page = context.new_page()
    page.goto(f"{scene.gateway.url}/?token={scene.token}")
    expect(page.locator("#connection")).to_have_text("online")
    alice = scene.user(say="tone:440", name="Alice")
    call_id = scene.user_calls(alice)
    expect(page.locator("#incoming")).to_be_visible()
    shown = page.evaluate("() => window.shown")
    assert shown == [{"title": "Incoming WhatsApp call", "body": f"Alice ({alice})", "open": True}], shown
    page.keyboard.press("h")  # H rejects a ringing call
    scene.wait_state(call_id, "ended")
    expect(page.locator("#incoming")).to_be_hidden()
    assert page.evaluate("() => window.shown[0].open") is False
    expect(page.locator("#notice")).to_contain_text(f"Call with Alice ({alice}) ended: rejected")
    context.close()


def test_outgoing_call_joins_audio_when_answered_and_shows_the_keys_pressed(browsers, scene: Scene) -> None:
    page = softphone(browsers[660], scene)
    bob = scene.user(say="tone:440", answer_after_ms=1500, name="Bob")
    page.locator("#phone-number").fill(bob)
    page.locator("#phone-number").press("Enter")
    expect(page.locator("#notice")).to_contain_text(f"Calling {bob}")
    # No click: the answer (CallAccept) joins the audio.
    expect(page.locator("#audio-state")).to_have_text("connected", timeout=15000)
    call_id = page.locator("#calls li[data-call-id]").first.get_attribute("data-call-id")
    assert call_id
    wait_until(lambda: user_hears(scene, call_id, 660), timeout=10, what="Bob to hear the agent without a click")

    r = scene.emulator.client.post(f"/emulator/calls/{call_id}/dtmf", json={"digits": "12#", "duration_ms": 120})
    assert r.status_code == 200, r.text
    expect(page.locator("#dtmf-digits")).to_have_text("12#", timeout=10000)

    page.locator("#hold").click()
    expect(page.locator("#call-held")).to_be_visible()
    assert scene.call_status(call_id).get("Held") is True
    page.locator("#hold").click()
    expect(page.locator("#call-held")).to_be_hidden()

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    shot(page, "phone-width")
    page.set_viewport_size({"width": 1100, "height": 900})

    page.keyboard.press("h")  # H hangs up
    scene.wait_state(call_id, "ended")
    expect(page.locator("#audio-panel")).to_be_hidden(timeout=10000)
    expect(page.locator("#dtmf-digits")).to_have_text("")  # nothing carried into the next call
    page.close()


def test_a_refused_token_says_so_and_stops_reconnecting(browsers, gateway: Gateway) -> None:
    page = browsers[660].new_page()
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/call/events" in request.url else None)
    page.goto(f"{gateway.url}/?token=not-a-session")
    expect(page.locator("#calls")).to_have_text("The session token was refused.")
    expect(page.locator("#connection")).to_have_text("token refused")
    expect(page.locator("#notice")).to_contain_text("refused")
    page.wait_for_timeout(4000)  # longer than the event stream's retry delay
    assert len(streams) == 1, streams
    page.close()


def test_supervisor_link_listens_without_being_heard(browsers, scene: Scene) -> None:
    agent = softphone(browsers[660], scene)
    _, call_id = answered_call(scene, agent)
    agent.locator("#transfer-tools summary").click()
    agent.locator("#supervisor-link").click()
    expect(agent.locator("#link")).to_have_value(re.compile("calltoken=cbt"))
    link = agent.locator("#link").input_value()
    assert "calltoken=cbt." in link and "?role=listen#" in link, link

    supervisor = browsers[880].new_page()
    supervisor.goto(link.replace("?role=listen#", "?role=listen&relay=1&raw=1#"))
    expect(supervisor.locator("#audio-state")).to_have_text("connected", timeout=15000)
    assert "calltoken" not in supervisor.url  # the token left the address bar
    expect(supervisor.locator("#mute")).to_be_hidden()
    expect(supervisor.locator("#call-role")).to_have_text("· listening in")

    def hears_both() -> bool:
        tones = supervisor.evaluate(TONES_JS, [440, 660])
        return tones["440"] > -60 and tones["660"] > -60

    wait_until(hears_both, timeout=10, what="the supervisor to hear Alice (440) and the agent (660)")
    heard = scene.heard(call_id, last=1.5)
    assert not any(abs(peak - 880) <= 5 for peak in heard["peaks_hz"]), heard  # the supervisor's mic is not heard
    agent_tones = agent.evaluate(TONES_JS, [440, 880])
    assert agent_tones["440"] > -60 and agent_tones["880"] < agent_tones["440"] - 30, agent_tones

    # The supervisor view lists the call's agents, with one click to listen or whisper.
    row = agent.locator(f'#supervised li[data-supervise-id="{call_id}"]')
    expect(row).to_contain_text("default · talk · connected")
    expect(row).to_contain_text("· listen · connected")
    overseer = softphone(browsers[880], scene)
    overseen = overseer.locator(f'#supervised li[data-supervise-id="{call_id}"]')
    expect(overseen).to_contain_text("· listen · connected")
    shot(overseer, "supervisor")
    overseen.get_by_role("button", name="Whisper").click()  # one click: a coach the agent hears, Alice does not
    expect(overseer.locator("#audio-state")).to_have_text("connected", timeout=15000)
    expect(overseer.locator("#call-role")).to_have_text("· whispering")

    def agent_hears_the_coach() -> bool:
        tones = agent.evaluate(TONES_JS, [880])
        return tones["880"] > -60

    wait_until(agent_hears_the_coach, timeout=10, what="the agent to hear the coach's 880 Hz")
    heard = scene.heard(call_id, last=1.0)
    assert not any(abs(peak - 880) <= 5 for peak in heard["peaks_hz"]), heard
    for page in (supervisor, overseer):
        page.close()
    scene.post("/call/end", {"CallID": call_id})
    agent.close()


def test_warm_transfer_hands_the_call_to_a_second_page(browsers, scene: Scene) -> None:
    first = softphone(browsers[660], scene)
    _, call_id = answered_call(scene, first)
    first.locator("#transfer-tools summary").click()
    first.locator("#warm-link").click()
    expect(first.locator("#link")).to_have_value(re.compile("calltoken=cbt"))
    link = first.locator("#link").input_value()

    second = browsers[880].new_page()
    second.goto(link.replace("/#", "/?relay=1&raw=1#"))
    expect(second.locator("#audio-state")).to_have_text("connected", timeout=15000)
    wait_until(lambda: user_hears(scene, call_id, 880), timeout=10, what="Alice to hear the second agent too")
    assert user_hears(scene, call_id, 660)  # the three talk

    first.locator("#warm-done").click()  # hand over
    expect(first.locator("#audio-panel")).to_be_hidden()
    wait_until(lambda: not user_hears(scene, call_id, 660), timeout=10, what="the first agent to be gone")
    assert user_hears(scene, call_id, 880)
    assert page_hears(second, 440)
    call = scene.call_status(call_id)
    assert call["State"] == "active" and [e["Role"] for e in call["Endpoints"]] == ["talk"], call
    scene.post("/call/end", {"CallID": call_id})
    expect(second.locator("#audio-panel")).to_be_hidden(timeout=10000)
    first.close()
    second.close()


def test_blind_transfer_plays_hold_audio_until_the_next_agent_joins(browsers, scene: Scene) -> None:
    first = softphone(browsers[660], scene)
    _, call_id = answered_call(scene, first)
    first.locator("#transfer-tools summary").click()
    expect(first.locator("#hold-file")).to_contain_text("hold.mp3")
    first.locator("#hold-file").select_option("hold.mp3")
    first.locator("#blind").click()
    expect(first.locator("#audio-panel")).to_be_hidden()  # detached by the transfer, and stays away
    expect(first.locator("#notice")).to_contain_text("Transferred: the next agent's link")
    expect(first.locator("#link")).to_be_visible()
    link = first.locator("#link").input_value()
    assert "calltoken=cbt." in link, link
    wait_until(lambda: user_hears(scene, call_id, 550), timeout=10, what="Alice to hear the hold audio")
    assert scene.call_status(call_id).get("Transferring") is True

    second = browsers[880].new_page()
    second.goto(link.replace("/#", "/?relay=1&raw=1#"))
    expect(second.locator("#audio-state")).to_have_text("connected", timeout=15000)
    wait_until(
        lambda: user_hears(scene, call_id, 880) and not user_hears(scene, call_id, 550),
        timeout=10,
        what="Alice to hear the next agent and no more hold audio",
    )
    assert not user_hears(scene, call_id, 660)  # the first agent stayed away
    scene.post("/call/end", {"CallID": call_id})
    expect(second.locator("#audio-panel")).to_be_hidden(timeout=10000)
    first.close()
    second.close()


def test_recording_with_a_consent_announcement_is_listed_and_plays(browsers, scene: Scene) -> None:
    page = softphone(browsers[660], scene)
    _, call_id = answered_call(scene, page)
    expect(page.locator("#announce-file")).to_have_value("consent.wav")  # the playable files, a consent one chosen
    page.locator("#record").click()
    expect(page.locator("#progress")).to_contain_text("announcing consent.wav")
    wait_until(lambda: user_hears(scene, call_id, ANNOUNCE_HZ), timeout=5, what="Alice to hear the announcement")
    scene.wait_event(call_id, "CallState", Event="recording_started")
    expect(page.locator("#progress")).to_contain_text("recording", timeout=5000)
    page.wait_for_timeout(2000)
    page.locator("#record").click()
    expect(page.locator("#notice")).to_contain_text("Recording saved")
    expect(page.locator("#progress")).to_have_text("", timeout=5000)  # no stale "recording 3 s"

    row = page.locator(f'#recordings li[data-name="calls/{call_id}.wav"]')
    row.get_by_role("button", name="Play").click()
    player = row.locator("audio")
    wait_until(
        lambda: player.evaluate("(a) => a.duration > 1 && (a.currentTime > 0 || a.ended)"),
        timeout=10,
        what="the recording to play in the page",
    )
    shot(page, "recordings")
    scene.post("/call/end", {"CallID": call_id})
    expect(page.locator("#audio-panel")).to_be_hidden(timeout=10000)
    expect(page.locator("#progress")).to_have_text("")
    page.close()
