"""Which node carries a call: the call service asks here before it takes a new call or acts on a known one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from callbridge.cluster.registry import NodeInfo
from callbridge.connectors.events import CallNews
from callbridge.errors import Unavailable
from callbridge.store.models import SessionRow


class OwnedElsewhere(Exception):
    """The request is for a call that another node carries (or a new call this node should not take): the API
    forwards it there (api/forwarding.py)."""

    def __init__(self, node_id: str) -> None:
        super().__init__(f"owned by node {node_id}")
        self.node_id = node_id


class NodeDirectory(Protocol):
    """What placement asks of the cluster (cluster/registry.py's NodeRegistry)."""

    node_id: str

    def takes_calls(self) -> bool: ...

    async def alive(self) -> list[NodeInfo]: ...


class NewsRelay(Protocol):
    async def relay(self, node_id: str, session: SessionRow, news: CallNews) -> None:
        """Hand WhatsApp's news of a call to the node that carries (or is to take) it."""


class Placement:
    """One node: every call is carried here, up to ``max_calls`` at once (0: no limit)."""

    clustered = False

    def __init__(self, node_id: str, max_calls: int = 0, live_calls: Callable[[], int] = lambda: 0) -> None:
        self.node_id = node_id
        self.max_calls = max_calls
        self.live_calls = live_calls

    async def node_for_new_call(self) -> str:
        if self.max_calls and self.live_calls() >= self.max_calls:
            raise Unavailable(f"this gateway carries {self.max_calls} calls, its CALLBRIDGE_MAX_CALLS: try again later")
        return self.node_id

    def elsewhere(self, node_id: str | None) -> bool:
        """Whether a call recorded as carried by ``node_id`` is another node's."""
        return False

    async def relay(self, node_id: str, session: SessionRow, news: CallNews) -> None:
        raise RuntimeError("a single node relays nothing")


class ClusterPlacement(Placement):
    """Several nodes: a new call stays on the node that receives it unless that one is draining or full, then
    goes to the least loaded node with room."""

    clustered = True

    def __init__(self, registry: NodeDirectory, relay: NewsRelay) -> None:
        super().__init__(registry.node_id)
        self.registry = registry
        self._relay = relay

    async def node_for_new_call(self) -> str:
        if self.registry.takes_calls():
            return self.node_id
        for node in await self.registry.alive():
            if node.id != self.node_id and node.has_room:
                return node.id
        raise Unavailable("no node can take a new call now: every node is draining or at CALLBRIDGE_MAX_CALLS")

    def elsewhere(self, node_id: str | None) -> bool:
        return node_id is not None and node_id != self.node_id

    async def relay(self, node_id: str, session: SessionRow, news: CallNews) -> None:
        await self._relay.relay(node_id, session, news)
