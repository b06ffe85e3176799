"""Helpers for the emulator's own tests (no tests here): a business that talks to the emulator's Graph API
directly, its webhook sink, and a raw aiortc media leg for it."""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import aioice.ice
import httpx
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtpPacket

from callbridge.testing import Emulator, free_port, wait_until

_ids = itertools.count(1)
# Meta's limits, shortened: no media for 2 s at the start of a call (3 s once established), 1 s to accept or answer.
QUICK_FLAGS = ("--media-timeout", "2", "--accept-timeout", "1", "--ring-timeout", "1")


class MetaSink:
    """Where an emulated number's Meta webhooks go: answers 200 and keeps each JSON payload."""

    def __init__(self) -> None:
        self.port = free_port()
        self.payloads: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/meta"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


class Business:
    """One business number on the emulator, used as an app would use graph.facebook.com."""

    def __init__(self, emulator: Emulator, sink: MetaSink, **number: Any) -> None:
        n = next(_ids)
        self.emulator = emulator
        self.phone_number_id = f"40000{os.getpid()}{n:04d}"
        self.token = f"emu-access-{n}"
        body = {
            "phone_number_id": self.phone_number_id,
            "display_phone_number": f"1555{n:03d}0000",
            "access_token": self.token,
            "app_secret": "emu-secret",
            "verify_token": "emu-verify",
            "webhook_url": sink.url,
            **number,
        }
        r = emulator.client.post("/emulator/numbers", json=body)
        assert r.status_code == 200, r.text

    def user(self, **behaviour: Any) -> str:
        wa_id = f"4915{os.getpid() % 10000:04d}{next(_ids):05d}"
        r = self.emulator.client.post("/emulator/users", json={"wa_id": wa_id, **behaviour})
        assert r.status_code == 200, r.text
        return wa_id

    def graph(self, method: str, edge: str, body: dict[str, Any] | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        path = f"/v23.0/{self.phone_number_id}/{edge}"
        return self.emulator.client.request(method, path, json=body, params=params or None, headers=headers)

    def calls(self, body: dict[str, Any]) -> httpx.Response:
        return self.graph("POST", "calls", {"messaging_product": "whatsapp", **body})

    def connect(self, to: str, sdp: str, **extra: Any) -> httpx.Response:
        return self.calls({"to": to, "action": "connect", "session": {"sdp_type": "offer", "sdp": sdp}, **extra})

    def answer(self, call_id: str, action: str, sdp: str, **extra: Any) -> httpx.Response:
        session = {"sdp_type": "answer", "sdp": sdp}
        return self.calls({"call_id": call_id, "action": action, "session": session, **extra})

    def user_calls(self, wa_id: str) -> httpx.Response:
        return self.emulator.client.post(f"/emulator/users/{wa_id}/call", json={"to": self.phone_number_id})

    def webhooks(self, field: str | None = None, call_id: str | None = None) -> list[dict[str, Any]]:
        """The ``value`` of every webhook the emulator sent for this number (optionally one field, one call)."""
        sent = self.emulator.client.get("/emulator/webhooks").json()["webhooks"]
        values = []
        for payload in sent:
            change = payload["entry"][0]["changes"][0]
            if change["value"]["metadata"]["phone_number_id"] != self.phone_number_id:
                continue
            if (field is None or change["field"] == field) and (call_id is None or call_id in json.dumps(change)):
                values.append(change["value"])
        return values

    def wait_webhook(self, match: Callable[[dict[str, Any]], bool], what: str, timeout: float = 15) -> dict[str, Any]:
        found: dict[str, Any] = wait_until(
            lambda: next((v for v in self.webhooks() if match(v)), None), timeout, 0.1, what
        )
        return found


def without_telephone_event(sdp: str) -> str:
    """``sdp`` with no telephone-event payload type (what a stack that knows none would answer)."""
    lines = sdp.replace("\r\n", "\n").strip().split("\n")
    maps = [line for line in lines if line.startswith("a=rtpmap:") and "telephone-event" in line]
    events = {line.split()[0].split(":")[1] for line in maps}
    out = []
    for line in lines:
        if line.startswith("m=audio "):
            line = " ".join(part for i, part in enumerate(line.split()) if i < 3 or part not in events)
        elif any(line.startswith(f"a={kind}:{pt} ") for kind in ("rtpmap", "fmtp") for pt in events):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def sha256_only(sdp: str) -> str:
    lines = sdp.replace("\r\n", "\n").strip().split("\n")
    keep = [line for line in lines if not line.startswith("a=fingerprint:") or "sha-256" in line.lower()]
    return "\r\n".join(keep) + "\r\n"


class BusinessLeg:
    """The business's media, a bare aiortc peer on loopback, which records the RTP packets it receives."""

    def __init__(self, track: MediaStreamTrack | None = None, direction: str = "sendrecv") -> None:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if track is not None:
            self.pc.addTrack(track)
        else:
            self.pc.addTransceiver("audio", direction=direction)
        self.packets: list[RtpPacket] = []

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return sha256_only(self.pc.localDescription.sdp)

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._tap()
        return sha256_only(self.pc.localDescription.sdp)

    async def apply_answer(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        self._tap()

    def _tap(self) -> None:
        # At the transport, before aiortc's router drops payload types it does not know (telephone-event).
        for transceiver in self.pc.getTransceivers():
            dtls: Any = transceiver.receiver.transport  # Any: its RTP handler is wrapped below
            handle = dtls._handle_rtp_data

            async def record(data: bytes, arrival_time_ms: int, dtls: Any = dtls, handle: Any = handle) -> None:
                self.packets.append(RtpPacket.parse(data, dtls._rtp_header_extensions_map))
                await handle(data, arrival_time_ms)

            dtls._handle_rtp_data = record

    async def close(self) -> None:
        await self.pc.close()
