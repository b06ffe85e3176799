"""The metrics that events feed, in a registry of our own (never prometheus_client's global one).

One process is one node, so these are process-wide. This module imports nothing of callbridge: the Graph
client and the webhook sender call the two ``observe_*`` functions below without learning anything else.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace="callbridge", registry=REGISTRY)  # CPU seconds, resident memory, open files

CALLS_TOTAL = Counter(
    "callbridge_calls_total",
    "Calls that ended, by direction and outcome (answered, rejected, unanswered, failed, interrupted)",
    ["direction", "outcome"],
    registry=REGISTRY,
)
SETUP_SECONDS = Histogram(
    "callbridge_call_setup_seconds",
    "Time from a call starting to ring to its becoming active",
    ["direction"],
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60),
    registry=REGISTRY,
)
LEG_LOSS_PERCENT = Histogram(
    "callbridge_leg_loss_percent",
    "Frames lost on a leg over its life, in percent; observed once per leg when it closes",
    ["leg"],
    buckets=(0, 0.1, 0.5, 1, 2, 3, 5, 10, 20, 50),
    registry=REGISTRY,
)
LEG_JITTER_MS = Histogram(
    "callbridge_leg_jitter_p95_milliseconds",
    "95th percentile of a leg's interarrival jitter (RFC 3550) over its life; observed once per leg when it closes",
    ["leg"],
    buckets=(1, 2, 5, 10, 20, 30, 50, 100, 200, 500),
    registry=REGISTRY,
)
LEG_LATE_FRAMES = Counter(
    "callbridge_leg_late_frames_total",
    "Frames that came after their place was given up (or twice), counted when each leg closes",
    ["leg"],
    registry=REGISTRY,
)
PLAYBACKS_TOTAL = Counter("callbridge_playbacks_total", "Files that started playing into calls", registry=REGISTRY)
RECORDINGS_TOTAL = Counter(
    "callbridge_recordings_total", "Recordings by how they went: started, finished", ["event"], registry=REGISTRY
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "callbridge_webhook_delivery_seconds",
    "Time of one delivery attempt to the app's webhook (resolve, connect, answer), by result",
    ["result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
WEBHOOK_FAILURES = Counter(
    "callbridge_webhook_delivery_failures_total",
    "Delivery attempts the app's webhook did not take, by reason (http_status, refused, dns, network)",
    ["reason"],
    registry=REGISTRY,
)
GRAPH_SECONDS = Histogram(
    "callbridge_graph_request_seconds",
    "Time of one Graph API request, by operation",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15),
    registry=REGISTRY,
)
GRAPH_ERRORS = Counter(
    "callbridge_graph_errors_total",
    "Graph API requests that failed, by operation and Meta's error code (unreachable: no answer)",
    ["operation", "code"],
    registry=REGISTRY,
)

for _result in ("ok", "failed"):
    WEBHOOK_DELIVERY_SECONDS.labels(_result)
for _event in ("started", "finished"):
    RECORDINGS_TOTAL.labels(_event)


def graph_operation(method: str, path: str, action: object = None) -> str:
    """A bounded name for a Graph request: the call action for /calls, else the method and the path's last part."""
    if path == "/calls" and isinstance(action, str) and action.isidentifier() and len(action) <= 32:
        return action
    return f"{method.lower()}_{path.strip('/').replace('/', '_') or 'phone_number'}"


def observe_graph(operation: str, seconds: float, error_code: int | str | None = None) -> None:
    """One Graph API request: its time, and its Meta error code (None when it worked)."""
    GRAPH_SECONDS.labels(operation).observe(seconds)
    if error_code is not None:
        GRAPH_ERRORS.labels(operation, str(error_code)).inc()


def observe_delivery(seconds: float, error: str | None) -> None:
    """One webhook delivery attempt: its time, and why it failed (the sender's error text, None when taken)."""
    WEBHOOK_DELIVERY_SECONDS.labels("ok" if error is None else "failed").observe(seconds)
    if error is not None:
        WEBHOOK_FAILURES.labels(failure_reason(error)).inc()


def failure_reason(error: str) -> str:
    if error.startswith("HTTP "):
        return "http_status"
    if error.startswith("refused"):
        return "refused"
    if error.startswith("cannot resolve"):
        return "dns"
    return "network"
