"""The parts of several nodes that need no second node: refusing SQLite, node-to-node news, where a new call goes,
and forwarded requests that must not travel again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from callbridge.cluster import news_wire
from callbridge.cluster.placement import ClusterPlacement, Placement
from callbridge.cluster.registry import NodeInfo, NodeState
from callbridge.connectors.events import (
    CallAnswered,
    CallError,
    CallNews,
    CallProgress,
    CallTerminated,
    IncomingCall,
)
from callbridge.errors import InvalidRequest, Unavailable
from callbridge.store.models import SessionRow
from callbridge.testing import clean_environment


def test_a_node_refuses_sqlite_with_a_clear_message(tmp_path: Path) -> None:
    env = clean_environment(CALLBRIDGE_DATA_DIR=str(tmp_path), CALLBRIDGE_CLUSTER_SECRET="s", CALLBRIDGE_PORT="0")
    done = subprocess.run(
        [sys.executable, "-m", "callbridge", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "PostgreSQL" in done.stderr and "CALLBRIDGE_DATABASE_URL" in done.stderr
    assert not (tmp_path / "callbridge.db").exists()  # refused before any database was made


def test_workers_refuse_sqlite(tmp_path: Path) -> None:
    env = clean_environment(CALLBRIDGE_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "callbridge", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "PostgreSQL" in done.stderr
    assert not (tmp_path / "callbridge.db").exists()


@pytest.mark.parametrize(
    "news",
    [
        IncomingCall("c1", "15550001", "v=0\r\n", name="Alice"),
        CallAnswered("c1", "v=0\r\n"),
        CallProgress("c1", "ACCEPTED"),
        CallTerminated("c1", "FAILED", 1.5, (CallError(138006, "no permission"), CallError(None, None))),
    ],
)
def test_news_travels_between_nodes_unchanged(news: CallNews) -> None:
    assert news_wire.decode(news_wire.encode(news)) == news


@pytest.mark.parametrize("garbage", [None, {}, {"kind": "Nope", "fields": {}}, {"kind": "CallProgress", "fields": 3}])
def test_garbled_news_is_a_clear_400(garbage: object) -> None:
    with pytest.raises(InvalidRequest):
        news_wire.decode(garbage)


class FakeRegistry:
    """The registry's answers, without a database."""

    def __init__(self, takes: bool, alive: list[NodeInfo]) -> None:
        self.node_id = "me"
        self._takes = takes
        self._alive = alive

    def takes_calls(self) -> bool:
        return self._takes

    async def alive(self) -> list[NodeInfo]:
        return self._alive


class NoRelay:
    """Placement never relays news."""

    async def relay(self, node_id: str, session: SessionRow, news: CallNews) -> None:
        raise AssertionError("placement relayed news")


def node(name: str, state: NodeState = NodeState.ACTIVE, calls: int = 0, limit: int = 0) -> NodeInfo:
    return NodeInfo(name, f"http://{name}", state, calls, limit)


async def placement(takes: bool, *alive: NodeInfo) -> str:
    return await ClusterPlacement(FakeRegistry(takes, list(alive)), relay=NoRelay()).node_for_new_call()


async def test_a_new_call_stays_here_while_this_node_has_room() -> None:
    assert await placement(True, node("a"), node("me", calls=9)) == "me"


async def test_a_draining_or_full_node_sends_new_calls_to_the_least_loaded_with_room() -> None:
    # alive() lists least loaded first; draining and full nodes are passed over.
    found = await placement(
        False,
        node("me", NodeState.DRAINING),
        node("drained", NodeState.DRAINING),
        node("full", calls=2, limit=2),
        node("b", calls=3),
        node("c", calls=5),
    )
    assert found == "b"


async def test_no_node_with_room_is_a_503() -> None:
    with pytest.raises(Unavailable):
        await placement(False, node("me", NodeState.DRAINING), node("full", calls=1, limit=1))


async def test_a_lone_gateway_at_max_calls_refuses_new_ones_with_503() -> None:
    live = [1, 2]
    full = Placement("me", max_calls=2, live_calls=lambda: len(live))
    with pytest.raises(Unavailable, match="CALLBRIDGE_MAX_CALLS"):
        await full.node_for_new_call()
    live.pop()
    assert await full.node_for_new_call() == "me"
    assert await Placement("me").node_for_new_call() == "me"  # no limit by default
