"""Figures read from the gateway's state at scrape time: live calls, endpoints, media packets, playback and
recording in progress, the webhook outbox, event-loop lag and the node. Nothing is counted ahead of a scrape."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callbridge import __version__
from callbridge.calls.model import Call, Direction, State
from callbridge.loop_lag import LoopLag
from callbridge.metrics.call_events import retired_packets

LIVE_STATES = (State.RINGING.value, State.ACTIVE.value)
DIRECTIONS = tuple(d.value for d in Direction)
ENDPOINT_KINDS = ("webrtc", "rtp", "stream")
ROLES = ("talk", "listen", "whisper")
LEG_KINDS = ("whatsapp", *ENDPOINT_KINDS)
OUTBOX_STATUSES = ("pending", "delivered", "dead")
NODE_STATES = ("active", "draining", "stopped", "lost")


class GatewayCollector(Collector):
    def __init__(
        self,
        live_calls: Callable[[], Iterable[Call]],
        loop_lag: LoopLag,
        node_id: str,
        node_state: Callable[[], str],
    ) -> None:
        self.live_calls = live_calls
        self.loop_lag = loop_lag
        self.node_id = node_id
        self.node_state = node_state
        self.outbox: Mapping[str, int] | None = None  # set by the scrape just before collect(); None: unknown

    def collect(self) -> Iterable[Metric]:
        calls = list(self.live_calls())
        yield from self._calls(calls)
        yield from self._media(calls)
        yield from self._outbox()
        yield from self._loop_lag()
        yield from self._node()

    def _calls(self, calls: list[Call]) -> Iterable[Metric]:
        by_state: Tally[tuple[str, str]] = Tally((c.state.value, c.direction.value) for c in calls if c.live)
        family = GaugeMetricFamily(
            "callbridge_calls", "Live calls by state and direction", labels=["state", "direction"]
        )
        for state in LIVE_STATES:
            for direction in DIRECTIONS:
                family.add_metric([state, direction], by_state[state, direction])
        yield family

    def _media(self, calls: list[Call]) -> Iterable[Metric]:
        endpoints: Tally[tuple[str, str]] = Tally()
        packets: Tally[tuple[str, str]] = Tally(retired_packets)
        playing = recording = 0
        for call in calls:
            media = call.media
            if media is None or not call.live:
                continue
            for endpoint in media.endpoints.values():
                endpoints[endpoint.kind, endpoint.role.value] += 1
            for leg in media.leg_summaries():
                packets[leg.kind, "in"] += leg.received
                packets[leg.kind, "out"] += leg.sent
            playing += media.playlist.busy
            recording += media.recording.busy
        family = GaugeMetricFamily(
            "callbridge_endpoints", "Endpoints attached to live calls, by kind and role", labels=["kind", "role"]
        )
        for kind in sorted({*ENDPOINT_KINDS, *(k for k, _ in endpoints)}):
            for role in ROLES:
                family.add_metric([kind, role], endpoints[kind, role])
        yield family
        counter = CounterMetricFamily(
            "callbridge_media_packets",
            "Audio packets received from (in) and frames sent to (out) each kind of leg",
            labels=["leg", "direction"],
        )
        for kind in sorted({*LEG_KINDS, *(k for k, _ in packets)}):
            for direction in ("in", "out"):
                counter.add_metric([kind, direction], packets[kind, direction])
        yield counter
        yield GaugeMetricFamily("callbridge_playing_calls", "Live calls playing a file now", value=playing)
        yield GaugeMetricFamily("callbridge_recording_calls", "Live calls being recorded now", value=recording)

    def _outbox(self) -> Iterable[Metric]:
        if self.outbox is None:
            return
        family = GaugeMetricFamily(
            "callbridge_webhook_outbox_events", "Webhook events in the outbox, by status", labels=["status"]
        )
        for status in sorted({*OUTBOX_STATUSES, *self.outbox}):
            family.add_metric([status], self.outbox.get(status, 0))
        yield family

    def _loop_lag(self) -> Iterable[Metric]:
        summary = self.loop_lag.summary()
        family = GaugeMetricFamily(
            "callbridge_event_loop_lag_seconds",
            "How late the event loop's timers fire, over the last minute (p50, p99, max)",
            labels=["stat"],
        )
        for stat in ("p50", "p99", "max"):
            family.add_metric([stat], summary[stat] / 1000)
        yield family

    def _node(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "callbridge_node_info", "This node (gateway process) and its version", labels=["node", "version"]
        )
        info.add_metric([self.node_id, __version__], 1)
        yield info
        current = self.node_state()
        state = GaugeMetricFamily(
            "callbridge_node_state", "This node's state: 1 for the one it is in", labels=["node", "state"]
        )
        for name in sorted({*NODE_STATES, current}):
            state.add_metric([self.node_id, name], 1 if name == current else 0)
        yield state
