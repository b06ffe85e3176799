"""The emulator holds the gateway to Meta's rules, so those rules are tested on the emulator itself.

Errors and their HTTP statuses: Meta's "Troubleshoot WhatsApp Calling Errors - Reference Guide"
(developers.facebook.com/documentation/business-messaging/whatsapp/calling/troubleshooting). Call flows and
webhooks: its "User-initiated calls" and "Business-Initiated Calls" pages."""

from __future__ import annotations

import asyncio
import fractions
import re
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from callbridge.testing import Emulator, wait_until
from tests.test_emulator_kit import QUICK_FLAGS, Business, BusinessLeg, MetaSink


@pytest.fixture(scope="module")
def sink() -> Iterator[MetaSink]:
    with MetaSink() as sink:
        yield sink


@pytest.fixture
def business(emulator: Emulator, sink: MetaSink) -> Business:
    return Business(emulator, sink)


async def test_an_sdp_with_sha384_and_sha512_fingerprints_is_refused_as_meta_does(business: Business) -> None:
    alice = business.user()
    leg = BusinessLeg()
    try:
        await leg.pc.setLocalDescription(await leg.pc.createOffer())
        sdp = leg.pc.localDescription.sdp
        assert re.search(r"a=fingerprint:sha-(384|512)", sdp)  # what aiortc produces
        r = await asyncio.to_thread(business.connect, alice, sdp)
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == 100 and error["error_subcode"] == 2494010
        # As in a real answer from Meta (StackOverflow q. 79767013).
        assert error["message"] == "Invalid parameter" and error["type"] == "OAuthException"
        assert error["error_data"] == {"messaging_product": "whatsapp", "details": "Fingerprint algo is not SHA256"}
        assert error["fbtrace_id"]
        r = await asyncio.to_thread(business.connect, alice, await leg.offer())  # sha-256 only: accepted
        assert r.status_code == 200, r.text
        await asyncio.to_thread(business.calls, {"call_id": r.json()["calls"][0]["id"], "action": "terminate"})
    finally:
        await leg.close()


@pytest.mark.parametrize(
    "body",
    [
        {"to": "1", "action": "dial"},
        {"action": "terminate"},
        {"action": "terminate", "call_id": "wacid.none"},
        {"to": "15550009999", "action": "connect", "session": {"sdp_type": "offer"}},
        {"to": "15550009999", "action": "connect", "biz_opaque_callback_data": "x" * 513},
    ],
)
def test_graph_api_shape_errors(business: Business, body: dict) -> None:
    r = business.calls(body)
    assert r.status_code == 400 and r.json()["error"]["code"] == 100


def test_graph_api_token_checks(business: Business) -> None:
    business.token = "bad"
    r = business.calls({"action": "terminate", "call_id": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == 190
    r = business.emulator.client.post(f"/v23.0/{business.phone_number_id}/calls", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == 2500


async def test_no_permission_is_138006_with_http_401(business: Business) -> None:
    nora = business.user(permission="no_permission", grant_permission=False)
    leg = BusinessLeg()
    try:
        r = await asyncio.to_thread(business.connect, nora, await leg.offer())
        assert r.status_code == 401
        assert r.json()["error"]["code"] == 138006
        assert r.json()["error"]["message"] == "No approved call permission found"
        assert r.json()["error"]["error_data"]["details"]
    finally:
        await leg.close()


async def test_a_second_call_to_a_user_in_a_call_is_a_duplicate(business: Business) -> None:
    """138003 "Duplicate call": a call is already ongoing with the receiver (HTTP 400)."""
    olga = business.user(no_answer=True)
    first, second = BusinessLeg(), BusinessLeg()
    try:
        r = await asyncio.to_thread(business.connect, olga, await first.offer())
        assert r.status_code == 200, r.text
        r2 = await asyncio.to_thread(business.connect, olga, await second.offer())
        assert r2.status_code == 400 and r2.json()["error"]["code"] == 138003
        await asyncio.to_thread(business.calls, {"call_id": r.json()["calls"][0]["id"], "action": "terminate"})
        r3 = await asyncio.to_thread(business.connect, olga, await second.offer())
        assert r3.status_code == 200, r3.text  # once the first call is over
        await asyncio.to_thread(business.calls, {"call_id": r3.json()["calls"][0]["id"], "action": "terminate"})
    finally:
        await first.close()
        await second.close()


async def test_an_accept_whose_sdp_differs_from_the_pre_accept_is_refused(business: Business) -> None:
    """User-initiated calls page, Accept call errors: "SDP answer provided in accept does not match the SDP answer
    given in the Pre-Accept endpoint". Meta gives it no code of its own: the generic 100."""
    paul = business.user()
    leg = BusinessLeg()
    try:
        call_id = (await asyncio.to_thread(business.user_calls, paul)).json()["call_id"]
        connect = await asyncio.to_thread(business.wait_webhook, lambda v: "calls" in v, "the connect webhook")
        answer = await leg.answer(connect["calls"][0]["session"]["sdp"])
        assert (await asyncio.to_thread(business.answer, call_id, "pre_accept", answer)).status_code == 200
        other = answer.replace("a=setup:active", "a=setup:active\r\na=ptime:40")
        r = await asyncio.to_thread(business.answer, call_id, "accept", other)
        assert r.status_code == 400 and r.json()["error"]["code"] == 100
        assert "does not match" in r.json()["error"]["error_data"]["details"]
        same = answer.replace("\r\n", "\n")  # the same SDP, other line endings
        r = await asyncio.to_thread(business.answer, call_id, "accept", same, biz_opaque_callback_data="ticket-9")
        assert r.status_code == 200, r.text
        await asyncio.to_thread(business.calls, {"call_id": call_id, "action": "terminate"})
        terminate = await asyncio.to_thread(
            business.wait_webhook, lambda v: v.get("calls", [{}])[0].get("event") == "terminate", "terminate"
        )
        assert terminate["calls"][0]["biz_opaque_callback_data"] == "ticket-9"  # given on accept, echoed
        assert terminate["calls"][0]["status"] == "COMPLETED"
    finally:
        await leg.close()


async def test_a_business_call_names_the_user_and_echoes_its_callback_data(business: Business) -> None:
    """Business-Initiated Calls page: contacts on connect; biz_opaque_callback_data on connect, status and terminate;
    terminate statuses COMPLETED or FAILED only (the REJECTED status webhook says the user declined)."""
    quinn = business.user(reject=True, answer_after_ms=100)
    leg = BusinessLeg()
    try:
        r = await asyncio.to_thread(business.connect, quinn, await leg.offer(), biz_opaque_callback_data="crm-42")
        call_id = r.json()["calls"][0]["id"]
        await asyncio.to_thread(
            business.wait_webhook, lambda v: "terminate" in str(v.get("calls")), "the terminate webhook"
        )
        values = business.webhooks(call_id=call_id)
        connect = next(v for v in values if v.get("calls", [{}])[0].get("event") == "connect")
        assert connect["contacts"] == [{"wa_id": quinn}]
        assert connect["calls"][0]["biz_opaque_callback_data"] == "crm-42"
        statuses = [v["statuses"][0] for v in values if "statuses" in v]
        assert [s["status"] for s in statuses] == ["RINGING", "REJECTED"]
        assert {s["biz_opaque_callback_data"] for s in statuses} == {"crm-42"}
        terminate = next(v for v in values if v.get("calls", [{}])[0].get("event") == "terminate")["calls"][0]
        assert terminate["status"] == "COMPLETED" and terminate["biz_opaque_callback_data"] == "crm-42"
        assert "start_time" not in terminate  # never picked up
    finally:
        await leg.close()


# ---- the control API ------------------------------------------------------------------------------------------


def test_the_control_api_reads_json_whatever_the_content_type_and_answers_one_error_shape(emulator: Emulator) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # what curl -d sends
    r = emulator.client.post("/emulator/users", content=b'{"wa_id": "4917000000001", "say": "silence"}', headers=form)
    assert r.status_code == 200, r.text
    for body, status, words in (
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"wa_id": "x"}', 400, "wa_id"),
        (b'{"wa_id": "4917000000002", "say": "shout"}', 400, "say"),
    ):
        r = emulator.client.post("/emulator/users", content=body, headers=form)
        assert r.status_code == status and words in r.json()["error"], (body, r.text)
    r = emulator.client.post("/emulator/calls/wacid.none/hangup")
    assert r.status_code == 404 and r.json() == {"error": "no call wacid.none"}
    r = emulator.client.get("/emulator/calls/wacid.none", params={"last": -1})
    assert r.status_code == 400 and "last" in r.json()["error"]
    r = emulator.client.get("/emulator/nothing-here")
    assert r.status_code == 404 and set(r.json()) == {"error"}


# ---- Meta's media timeouts ------------------------------------------------------------------------------------


class BriefTone(MediaStreamTrack):
    """A business that sends a second of audio, then nothing more."""

    kind = "audio"

    def __init__(self, frames: int = 50) -> None:
        super().__init__()
        self.frames = frames
        self.sent = 0
        self.start = time.monotonic()

    async def recv(self) -> av.AudioFrame:
        if self.sent >= self.frames:
            raise MediaStreamError
        await asyncio.sleep(max(0.0, self.start + self.sent * 0.02 - time.monotonic()))
        samples = (np.sin(np.arange(960) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, self.sent * 960, fractions.Fraction(1, 48000)
        self.sent += 1
        return frame


def _terminate(business: Business, call_id: str) -> dict:
    value: dict = wait_until(
        lambda: next((v for v in business.webhooks(call_id=call_id) if "terminate" in str(v.get("calls"))), None),
        15,
        0.1,
        "the terminate webhook",
    )
    return value


@pytest.fixture(scope="module")
def quick_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tmp_path_factory.mktemp("quick"), *QUICK_FLAGS) as emulator:
        yield emulator


@pytest.fixture
def short_business(quick_emulator: Emulator, sink: MetaSink) -> Business:
    """A number on an emulator whose media limits are 2 s at the start of a call and 3 s once established."""
    return Business(quick_emulator, sink)


@pytest.mark.parametrize("sends_first", [False, True], ids=["at-start", "once-established"])
async def test_no_media_from_the_business_fails_the_call_with_metas_error(
    short_business: Business, sends_first: bool
) -> None:
    """Troubleshooting page, "Media related issues": no media from the business for 20 s at the start, or 30 s
    once established, and the WhatsApp client ends the call: FAILED with 138021 "Media receive timeout", in
    value.errors (and in the call object, as real deliveries repeat it)."""
    rita = short_business.user(answer_after_ms=0, say="silence")
    leg = BusinessLeg(track=BriefTone()) if sends_first else BusinessLeg(direction="recvonly")
    try:
        r = await asyncio.to_thread(short_business.connect, rita, await leg.offer())
        call_id = r.json()["calls"][0]["id"]
        connect = await asyncio.to_thread(
            short_business.wait_webhook, lambda v: call_id in str(v.get("calls")), "the connect webhook"
        )
        await leg.apply_answer(connect["calls"][0]["session"]["sdp"])
        emulator = short_business.emulator
        ended = await asyncio.to_thread(
            wait_until, lambda: (c := emulator.call(call_id))["state"] == "ended" and c, 20, 0.1, "the call to end"
        )
        limit = 3 if sends_first else 2
        assert ended["end_reason"] == f"no audio from the business for {limit}s"
        assert (ended["heard"]["seconds"] > 0.5) is sends_first
        value = await asyncio.to_thread(_terminate, short_business, call_id)
        [terminate] = value["calls"]
        assert terminate["status"] == "FAILED"
        [error] = value["errors"]
        assert terminate["errors"] == [error]
        assert (error["code"], error["message"]) == (138021, "Media receive timeout")
        assert error["href"] and error["error_data"]["details"]
    finally:
        await leg.close()


async def test_calls_nobody_picks_up_end_without_an_error_code(short_business: Business) -> None:
    """Meta documents a terminate webhook for a user's call the business lets ring ("Not Answered" at the user) and
    for a business's call the user lets ring, but no error code: they end COMPLETED, without errors (138021 is
    "Media receive timeout"), and without start_time since nobody picked up."""
    tess = short_business.user(no_answer=True)
    leg = BusinessLeg()
    try:
        user_call = (await asyncio.to_thread(short_business.user_calls, tess)).json()["call_id"]
        value = await asyncio.to_thread(_terminate, short_business, user_call)
        r = await asyncio.to_thread(short_business.connect, tess, await leg.offer())
        business_call = r.json()["calls"][0]["id"]
        value2 = await asyncio.to_thread(_terminate, short_business, business_call)
        for terminate in (value, value2):
            assert "errors" not in terminate
            assert terminate["calls"][0]["status"] == "COMPLETED" and "start_time" not in terminate["calls"][0]
        assert short_business.emulator.call(user_call)["end_reason"] == "not accepted by the business in time"
        assert short_business.emulator.call(business_call)["end_reason"] == "not answered by the user"
    finally:
        await leg.close()
