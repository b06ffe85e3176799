from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.database import fresh_database
from tests.support.emulator import EmulatorProcess, Scene
from tests.support.gateway import GatewayProcess
from tests.support.graph import GraphStandIn
from tests.support.receiver import Receiver


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def start_gateway(tmp_path: Path, database_url: str) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateway processes sharing this test's database; all are stopped at the end."""
    started: list[GatewayProcess] = []

    def start(**settings: Any) -> GatewayProcess:
        workdir = tmp_path / f"gw{len(started)}"
        workdir.mkdir()
        gateway = GatewayProcess(workdir, database_url, **settings)
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.close()


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """One gateway for a whole module, for tests that only read or that clean up after themselves."""
    tmp = tmp_path_factory.mktemp("shared")
    with fresh_database(tmp) as url:
        gateway = GatewayProcess(tmp, url).start()
        yield gateway
        gateway.close()


@pytest.fixture(scope="module")
def shared_graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway()


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    stand_in = GraphStandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver().start()
    yield hook
    hook.stop()


RING_TIMEOUT = 4.0  # seconds; short so that the ring-timeout path is quick to test


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator")).start()
    yield process
    process.close()


@pytest.fixture(scope="module")
def call_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway for call tests: media on loopback, a short ring timeout. Each test brings its own session."""
    tmp = tmp_path_factory.mktemp("callgw")
    with fresh_database(tmp) as url:
        gateway = GatewayProcess(tmp, url, ice_hosts="127.0.0.1", ring_timeout=RING_TIMEOUT).start()
        yield gateway
        gateway.close()


@pytest.fixture
def scene(call_gateway: GatewayProcess, emulator: EmulatorProcess, receiver: Receiver) -> Scene:
    return Scene(call_gateway, emulator, receiver).setup()


@pytest.fixture(scope="module")
def short_media_emulator(tmp_path_factory: pytest.TempPathFactory, call_gateway: GatewayProcess) -> Iterator[Scene]:
    """An emulator that ends calls after 2 s without audio, for the test of that rule itself."""
    process = EmulatorProcess(tmp_path_factory.mktemp("emulator-short"), "--media-timeout", "2").start()
    receiver = Receiver().start()
    yield Scene(call_gateway, process, receiver).setup()
    receiver.stop()
    process.close()
