from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver
from tests.support.database import SECRET_KEY, fresh_database
from tests.support.graph import GraphStandIn

ADMIN_TOKEN = "test-admin-token-0123456789"
LOG_LEVEL = "DEBUG"  # the processes' logs are what a failed test is read with


def new_gateway(workdir: Path, database_url: str, **settings: Any) -> Gateway:
    """A gateway with the tests' admin token, secret key and debug logs (not started)."""
    defaults = {"log_level": LOG_LEVEL, "secret_key": SECRET_KEY}
    return Gateway(workdir, database_url, admin_token=ADMIN_TOKEN, **{**defaults, **settings})


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def start_gateway(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Gateway]]:
    """Start gateway processes sharing this test's database; all are stopped at the end."""
    started: list[Gateway] = []

    def start(**settings: Any) -> Gateway:
        workdir = tmp_path / f"gw{len(started)}"
        workdir.mkdir()
        gateway = new_gateway(workdir, database_url, **settings)
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.close()


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for a whole module, for tests that only read or that clean up after themselves."""
    tmp = tmp_path_factory.mktemp("shared")
    with fresh_database(tmp) as url, new_gateway(tmp, url) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def shared_graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    return start_gateway()


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


RING_TIMEOUT = 4.0  # seconds; short so that the ring-timeout path is quick to test


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(tmp_path_factory.mktemp("emulator"), log_level=LOG_LEVEL) as process:
        yield process


@pytest.fixture(scope="module")
def call_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway for call tests: media on loopback, a short ring timeout. Each test brings its own session."""
    tmp = tmp_path_factory.mktemp("callgw")
    with fresh_database(tmp) as url, new_gateway(tmp, url, ice_hosts="127.0.0.1", ring_timeout=RING_TIMEOUT) as gateway:
        yield gateway


@pytest.fixture
def scene(call_gateway: Gateway, emulator: Emulator, receiver: WebhookReceiver) -> Scene:
    return Scene(call_gateway, emulator, receiver).setup()
