"""Several gateway nodes on one PostgreSQL behind Debian's nginx: calls spread over the nodes, every call-scoped
request works through a node that does not own the call (forwarded, event streams included), audio flows through
the load balancer, a killed node's calls are ended by a survivor, and a drained node keeps its call to the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from asyncio import to_thread
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from callbridge.cluster.forward import NEWS_PATH, SECRET_HEADER
from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver, expect_ok, free_port, wait_until
from tests.support.audio_files import write_tone
from tests.support.browser import PyBrowser, wait_for
from tests.support.database import POSTGRES_URL, SECRET_KEY, fresh_database
from tests.support.nginx import Nginx

pytestmark = [
    pytest.mark.store,
    pytest.mark.skipif(not POSTGRES_URL, reason="several nodes need PostgreSQL (CALLBRIDGE_TEST_DATABASE_URL)"),
]

NODE_TIMEOUT = 3.0
LOST_REASON = "the node carrying the call stopped"


class Front:
    """nginx, seen by the testing kit as one gateway: the scene's app and Meta's webhooks both go through it."""

    def __init__(self, nginx: Nginx, node: Gateway) -> None:
        self.url = nginx.url
        self.client = httpx.Client(base_url=nginx.url, timeout=30.0, trust_env=False)
        self.admin_token = node.admin_token
        self.workdir = node.workdir

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers={"token": token or ""}, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers={"token": token or ""}, **kwargs)


@contextlib.contextmanager
def cluster(tmp: Path, size: int, **settings: Any) -> Iterator[tuple[list[Gateway], Scene]]:
    files = tmp / "files"
    files.mkdir(parents=True, exist_ok=True)
    write_tone(files / "tone880.wav", 880, 30.0)
    with (
        fresh_database(tmp) as database_url,
        Emulator(tmp / "emulator") as emulator,
        WebhookReceiver() as receiver,
        contextlib.ExitStack() as stack,
    ):
        nodes = []
        for index in range(size):  # one after the other: each migrates or finds the schema done
            node = Gateway(
                tmp / f"node{index}",
                database_url,
                node_id=f"node-{index}",
                cluster_secret="cluster-test-secret",
                node_timeout=NODE_TIMEOUT,
                secret_key=SECRET_KEY,
                files_dir=files,
                ice_hosts="127.0.0.1",
                **settings,
            )
            nodes.append(stack.enter_context(node))
        nginx = stack.enter_context(Nginx(tmp, [f"127.0.0.1:{n.port}" for n in nodes]))
        front = Front(nginx, nodes[0])
        stack.callback(front.client.close)
        yield nodes, Scene(cast(Gateway, front), emulator, receiver).setup()


@pytest.fixture
def three_nodes(tmp_path: Path) -> Iterator[tuple[list[Gateway], Scene]]:
    with cluster(tmp_path, 3) as running:
        yield running


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[list[Gateway], Scene]]:
    with cluster(tmp_path, 2) as running:
        yield running


async def session_events(node: Gateway, scene: Scene, seen: list[dict[str, Any]]) -> None:
    """Collect the session-wide stream's CallState events from ``node``."""
    async with (
        httpx.AsyncClient(base_url=node.url, timeout=None, trust_env=False) as http,
        http.stream("GET", "/call/events", params={"token": scene.token}) as stream,
    ):
        kind = ""
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == "CallState":
                seen.append(json.loads(line[5:]))


def by_node(nodes: list[Gateway]) -> dict[str, Gateway]:
    return {f"node-{i}": node for i, node in enumerate(nodes)}


def other_than(nodes: list[Gateway], owner: str) -> Gateway:
    return next(node for name, node in by_node(nodes).items() if name != owner)


def status_via(node: Gateway, scene: Scene, call_id: str) -> dict[str, Any]:
    r = expect_ok(node.get("/call/status", token=scene.token, params={"CallID": call_id}))
    call: dict[str, Any] = r.json()["data"]["call"]
    return call


def hears(scene: Scene, call_id: str, hz: float, last: float = 1.5) -> bool:
    heard = scene.emulator.call(call_id, last)["heard"]
    return any(abs(p - hz) <= 8 for p in heard["peaks_hz"])


def emulator_state_is(scene: Scene, call_id: str, state: str) -> bool:
    return bool(scene.emulator.call(call_id)["state"] == state)


def place_answered_calls(scene: Scene, count: int) -> list[str]:
    calls = [scene.make_call(scene.user(say="tone:440", answer_after_ms=0)) for _ in range(count)]
    for call_id in calls:
        scene.wait_event(call_id, "CallAccept")
    return calls


def no_event_lost_or_repeated(scene: Scene, call_ids: list[str]) -> None:
    """Each event went out once (counted by EventID at the app), and each call's Seq runs 1, 2, 3... unbroken."""
    assert scene.receiver is not None
    deliveries = [d for d in scene.receiver.deliveries if d.event.get("CallID") in call_ids]
    repeats = [event_id for event_id, n in Counter(d.event_id for d in deliveries).items() if n > 1]
    assert not repeats, f"delivered more than once: {repeats}"
    for call_id in call_ids:
        seqs = sorted(d.event["Seq"] for d in deliveries if d.event.get("CallID") == call_id)
        assert seqs == list(range(1, len(seqs) + 1)), (call_id, seqs)


async def test_calls_spread_and_are_controlled_through_any_node(
    three_nodes: tuple[list[Gateway], Scene],
) -> None:
    nodes, scene = three_nodes
    # The session's event stream from one node, as a softphone holds it, while calls land on every node.
    seen: list[dict[str, Any]] = []
    watcher = asyncio.create_task(session_events(nodes[0], scene, seen))
    await asyncio.sleep(1)
    calls = await to_thread(place_answered_calls, scene, 6)
    owners = {call_id: scene.call_status(call_id)["Node"] for call_id in calls}
    assert len(set(owners.values())) >= 2, f"nginx spread the calls over one node only: {owners}"
    await wait_for(
        lambda: {e["CallID"] for e in seen if e.get("Event") == "active"} >= set(calls),
        within=10,
        what="node-0's session stream to show every node's calls going active",
    )
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher

    call_id = calls[0]
    owner = owners[call_id]
    elsewhere = other_than(nodes, owner)
    assert status_via(elsewhere, scene, call_id)["State"] == "active"

    # The call's event stream through a node that does not carry it.
    async with (
        httpx.AsyncClient(base_url=elsewhere.url, timeout=30, trust_env=False) as http,
        http.stream("GET", "/call/events", params={"CallID": call_id, "token": scene.token}) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        first = await anext(line async for line in lines if line.startswith("data:"))
        assert json.loads(first[5:])["Node"] == owner

        # Media commands through the non-owner: play, record; a browser attaches through nginx.
        play = {"CallID": call_id, "AudioFile": "tone880.wav"}
        r = await to_thread(elsewhere.post, "/call/play", token=scene.token, json=play)
        assert r.status_code == 200, r.text
        await wait_for(lambda: hears(scene, call_id, 880), within=10, what="the user to hear the played file")
        expect_ok(await to_thread(elsewhere.post, "/call/play/stop", token=scene.token, json={"CallID": call_id}))
        r = await to_thread(elsewhere.post, "/call/record", token=scene.token, json={"CallID": call_id, "Announce": ""})
        assert r.status_code == 200, r.text
        levels = await anext(line async for line in lines if line.startswith("event: levels"))
        assert levels

    browser = PyBrowser(say_hz=660)
    try:
        r = await browser.join(scene.gateway.url, scene.token, call_id)
        assert r.status_code == 200, r.text
        await wait_for(lambda: hears(scene, call_id, 660), within=15, what="the user to hear the browser")
        await wait_for(
            lambda: any(abs(p - 440) <= 8 for p in browser.ear.report(last_seconds=1.5)["peaks_hz"]),
            within=15,
            what="the browser to hear the user",
        )
    finally:
        await browser.close()

    stopped = expect_ok(
        await to_thread(elsewhere.post, "/call/record/stop", token=scene.token, json={"CallID": call_id})
    )
    assert stopped.json()["data"]["Seconds"] > 0

    # An incoming call, answered and ended through nodes that do not carry it.
    incoming = await to_thread(scene.user_calls, await to_thread(scene.user, say="tone:440"))
    await to_thread(scene.wait_event, incoming, "CallOffer")
    incoming_owner = scene.call_status(incoming)["Node"]
    expect_ok(
        await to_thread(
            other_than(nodes, incoming_owner).post, "/call/accept", token=scene.token, json={"CallID": incoming}
        )
    )
    await to_thread(scene.wait_state, incoming, "active")

    # The session's list, from any node, holds every node's calls.
    listed = expect_ok(nodes[2].get("/call/status", token=scene.token)).json()["data"]["calls"]
    assert {c["CallID"] for c in listed} >= {*calls, incoming}

    for each in [*calls, incoming]:
        via = other_than(nodes, scene.call_status(each)["Node"])
        expect_ok(await to_thread(via.post, "/call/end", token=scene.token, json={"CallID": each}))
    for each in [*calls, incoming]:
        await to_thread(scene.wait_event, each, "CallTerminate")
        assert scene.emulator.call(each)["state"] == "ended"
    await asyncio.sleep(1)  # the last events' deliveries
    no_event_lost_or_repeated(scene, [*calls, incoming])


async def test_a_killed_nodes_calls_are_ended_by_a_survivor(three_nodes: tuple[list[Gateway], Scene]) -> None:
    nodes, scene = three_nodes
    calls = await to_thread(place_answered_calls, scene, 6)
    owners = {call_id: scene.call_status(call_id)["Node"] for call_id in calls}
    victim_name = owners[calls[0]]
    victim = by_node(nodes)[victim_name]
    doomed = [c for c, n in owners.items() if n == victim_name]
    spared = [c for c, n in owners.items() if n != victim_name]
    assert spared, f"every call on one node: {owners}"
    for call_id in spared:
        expect_ok(await to_thread(scene.post, "/call/play", {"CallID": call_id, "AudioFile": "tone880.wav"}))

    recorded = expect_ok(await to_thread(scene.post, "/call/record", {"CallID": doomed[0], "Announce": ""})).json()[
        "data"
    ]["Path"]
    await asyncio.sleep(1.5)

    await to_thread(victim.kill)
    for call_id in doomed:
        ended = await to_thread(scene.wait_event, call_id, "CallTerminate", NODE_TIMEOUT + 5)
        assert ended["Reason"] == LOST_REASON
        await wait_for(partial(emulator_state_is, scene, call_id, "ended"), within=5, what="Meta told")
    listed = expect_ok(scene.gateway.get("/files", token=scene.token, params={"Kind": "recordings"}))
    recording = next(f for f in listed.json()["data"]["files"] if f["CallID"] == doomed[0])
    assert recording["Incomplete"] is True and recorded.endswith(recording["Name"]), recording
    for call_id in spared:
        assert scene.call_status(call_id)["State"] == "active"
        # Its node still plays into it.
        await wait_for(partial(hears, scene, call_id, 880), within=5, what="the survivors' calls' audio")
    for call_id in spared:
        expect_ok(await to_thread(scene.post, "/call/end", {"CallID": call_id}))
        await to_thread(scene.wait_event, call_id, "CallTerminate")
    await asyncio.sleep(1)
    no_event_lost_or_repeated(scene, calls)


async def test_a_draining_node_keeps_its_call_and_takes_no_new_ones(two_nodes: tuple[list[Gateway], Scene]) -> None:
    nodes, scene = two_nodes
    calls = await to_thread(place_answered_calls, scene, 2)
    call_id = calls[0]
    name = scene.call_status(call_id)["Node"]
    draining = by_node(nodes)[name]
    expect_ok(await to_thread(scene.post, "/call/play", {"CallID": call_id, "AudioFile": "tone880.wav"}))
    assert draining.proc is not None
    draining.proc.send_signal(signal.SIGTERM)

    def is_draining() -> bool:
        r = expect_ok(other_than(nodes, name).get("/health"))
        return any(n.get("ID") == name and n.get("State") == "draining" for n in r.json()["data"]["Nodes"])

    await to_thread(wait_until, is_draining, 10.0, 0.1, f"{name} to drain")
    # Its other calls end meanwhile; the one we watch goes on.
    for other in calls[1:]:
        if scene.call_status(other)["Node"] == name:
            expect_ok(await to_thread(scene.post, "/call/end", {"CallID": other}))
    new = await to_thread(place_answered_calls, scene, 4)
    assert {scene.call_status(c)["Node"] for c in new} == set(by_node(nodes)) - {name}
    await asyncio.sleep(NODE_TIMEOUT + 1)
    assert draining.running() and scene.call_status(call_id)["State"] == "active"
    await wait_for(lambda: hears(scene, call_id, 880), within=5, what="the draining node's call's audio")

    # The call ends by itself (the user hangs up): then the node exits.
    scene.emulator.client.post(f"/emulator/calls/{call_id}/hangup")
    await to_thread(scene.wait_event, call_id, "CallTerminate")
    await wait_for(lambda: not draining.running(), within=15, what="the drained node to exit")
    for each in [*calls[1:], *new]:
        if scene.call_status(each)["State"] != "ended":
            expect_ok(await to_thread(scene.post, "/call/end", {"CallID": each}))


def free_port_pair() -> int:
    """A port whose next one is free too (``--workers 2`` gives its workers node ports N and N+1)."""
    for _ in range(50):
        base = free_port()
        with contextlib.suppress(OSError), socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", base))
            b.bind(("127.0.0.1", base + 1))
            return base
    raise AssertionError("no two consecutive free ports")


def test_workers_share_one_port_and_both_carry_calls(tmp_path: Path) -> None:
    with (
        fresh_database(tmp_path) as database_url,
        Emulator(tmp_path / "emulator") as emulator,
        WebhookReceiver() as receiver,
    ):
        node_port = free_port_pair()
        box = Gateway(tmp_path / "box", database_url, node_port=node_port, ice_hosts="127.0.0.1", secret_key=SECRET_KEY)
        box.command += ["--workers", "2"]
        with box:
            scene = Scene(box, emulator, receiver).setup()
            nodes: dict[str, str] = {}
            # The kernel spreads new connections over the two workers: each call on a connection of its own.
            for _ in range(20):
                wa_id = scene.user(say="tone:440", answer_after_ms=0)
                r = httpx.post(f"{box.url}/call/make", headers={"token": scene.token}, json={"Phone": wa_id})
                call = expect_ok(r).json()["data"]["call"]
                nodes[call["CallID"]] = call["Node"]
                if len(set(nodes.values())) == 2:
                    break
            assert len(set(nodes.values())) == 2, f"one worker took every call: {nodes}"
            for call_id in nodes:
                scene.wait_event(call_id, "CallAccept")
            for port in (node_port, node_port + 1):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"admintoken": box.admin_token}).text
                for family in ("callbridge_calls", "callbridge_node_state", "callbridge_webhook_outbox_events"):
                    assert f"# TYPE {family} " in text, (port, family)
                assert f'node="{socket.gethostname()}:{port}"' in text
            for call_id in nodes:
                expect_ok(scene.post("/call/end", {"CallID": call_id}))
                scene.wait_event(call_id, "CallTerminate")


def test_node_to_node_news_needs_the_cluster_secret_before_anything_else(
    two_nodes: tuple[list[Gateway], Scene],
) -> None:
    """/internal/news takes WhatsApp's news from other nodes only: without the secret (or with a wrong one) a
    request is refused whatever its body, and with it, a body that is not news is refused as such."""
    nodes, _ = two_nodes
    node = nodes[0]
    news = {"session_id": 1, "news": {"kind": "terminated", "fields": {}}}
    for headers in ({}, {SECRET_HEADER: "not-the-secret"}):
        for body in (news, {"session_id": "x"}, {}):
            r = node.client.post(NEWS_PATH, json=body, headers=headers)
            assert r.status_code == 401 and "cluster secret" in r.json()["error"], (headers, body, r.text)
    secret = {SECRET_HEADER: "cluster-test-secret"}
    assert node.client.post(NEWS_PATH, json={"session_id": "x"}, headers=secret).status_code == 400
    r = node.client.post(NEWS_PATH, json={"session_id": 1, "news": {"kind": "nonsense"}}, headers=secret)
    assert r.status_code in (400, 404), r.text  # not news (or no such session): nothing handled either way
