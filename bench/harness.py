"""The bench's machinery: the servers under test as processes, the load generators, and one measured stretch
(CPU and memory of every process, event-loop lag, marker latency, frames on time)."""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import psutil

from bench import marker_leg
from callbridge.emulator.audio import tone
from callbridge.emulator.markers import count_between, latencies
from callbridge.testing import (
    Emulator,
    Gateway,
    Scene,
    ServerProcess,
    clean_environment,
    expect_ok,
    free_port,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FRAMES_PER_SECOND = 50
ON_TIME_TARGET = 0.995
LAG_TARGET_MS = 20.0
ADMIN_TOKEN = "bench-admin-token"
HTTP_TIMEOUT = 60.0  # seconds: a loaded machine answers slowly, and a slow answer is not what is measured


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (nearest rank), rounded; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


S = TypeVar("S", bound=ServerProcess)


@dataclass
class Measured(Generic[S]):
    """A server process the bench watches from outside, under the name its figures are reported by."""

    name: str
    server: S

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.server.pid)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.process.memory_info().rss / 2**20


@dataclass
class MeasuredWorker(Measured[Gateway]):
    """One worker of ``callbridge serve --workers N`` (a child of the process the kit started)."""

    pid: int = 0
    node_url: str = ""  # the worker's own port (CALLBRIDGE_NODE_PORT), which reaches this worker only
    node: str = ""  # its node id, as calls' ``Node`` names it

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.pid)


@dataclass
class GatewayUnderTest:
    """One gateway process and its session, bound to a number on the bench's emulator. With ``--workers N`` the
    workers are measured in place of the parent (which only starts and watches them), their loop lag is read on
    their node ports, and each call is placed on a new connection so that the kernel spreads them over the
    workers; ``placed`` records each such call's ``Node``."""

    scene: Scene
    measured: Measured[Gateway]
    workers: list[MeasuredWorker] = field(default_factory=list)
    placed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def processes(self) -> list[Measured[Any]]:
        return [*self.workers] or [self.measured]

    def make_call(self, wa_id: str) -> str:
        """``POST /call/make`` to ``wa_id``; the CallID."""
        if not self.workers:
            return self.scene.make_call(wa_id)
        with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as http:  # a connection of its own
            r = http.post(
                f"{self.scene.gateway.url}/call/make", headers={"token": self.scene.token}, json={"Phone": wa_id}
            )
        call = expect_ok(r).json()["data"]["call"]
        self.placed.append((call["CallID"], call["Node"]))
        return str(call["CallID"])

    def loop_lag(self, seconds: float) -> list[dict[str, float]]:
        """Event-loop lag over the last ``seconds`` (``/health``): of the process, or of each worker."""
        if not self.workers:
            return [self.scene.gateway.get("/health", params={"window": seconds}).json()["data"]["loopLagMs"]]
        with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as http:
            return [
                http.get(f"{w.node_url}/health", params={"window": seconds}).json()["data"]["loopLagMs"]
                for w in self.workers
            ]


@dataclass
class Bench:
    """The processes of a run: the emulator, callbridge's gateway(s) and the naive bridge, plus a long file to
    play. Steps (bench/steps.py) load them; :meth:`measure` and :meth:`finish` turn a stretch into figures."""

    workdir: Path
    smoke: bool
    servers: list[Measured[Any]] = field(default_factory=list)
    gateways: list[GatewayUnderTest] = field(default_factory=list)
    rounds: int = 0  # the baseline's calls are named by round

    def start(self) -> None:
        self.start_emulator()
        self.gateways.append(self.start_gateway(0))
        port = free_port()
        command = [sys.executable, str(ROOT / "bench" / "naive_bridge.py"), "--port", str(port)]
        baseline = ServerProcess(self.workdir, "baseline", command, "/stats", port, env={"PYTHONPATH": str(ROOT)})
        self.baseline = self._watch("baseline", baseline)
        self.long_file = self.workdir / "files" / "long.wav"
        self.long_file.parent.mkdir(exist_ok=True)
        with wave.open(str(self.long_file), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(48000)
            out.writeframes(tone(700, 120.0, 0.3).tobytes())

    def start_emulator(self) -> None:
        emulator = Emulator(self.workdir, log_level="WARNING")
        emulator.client.timeout = httpx.Timeout(HTTP_TIMEOUT)
        emulator.env.update(marker_leg.environment(self.workdir))  # its marker users on the lean path, as ours
        self.emulator = self._watch("emulator", emulator)

    def start_gateway(
        self,
        index: int,
        database_url: str | None = None,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        **settings: Any,
    ) -> GatewayUnderTest:
        """Another gateway process (``gateway<index>``), sharing the files dir, with a session on its own number;
        on ``database_url`` if given, and as ``serve --workers N`` if ``workers`` > 1 (``settings`` must then give
        ``node_port``, the first worker's); ``extra_env`` adds to its environment (bench/spans.py's PYTHONPATH)."""
        gateway = Gateway(
            self.workdir / f"gw{index}",
            database_url,
            admin_token=ADMIN_TOKEN,
            files_dir=self.workdir / "files",
            ice_hosts="127.0.0.1",
            log_level="WARNING",
            ring_timeout=120,
            rtp_ports=f"{45000 + 1000 * index}-{45999 + 1000 * index}",  # apart from other gateways on the machine
            **settings,
        )
        gateway.client.timeout = httpx.Timeout(HTTP_TIMEOUT)
        if workers > 1:
            gateway.command += ["--workers", str(workers)]
        gateway.env.update(extra_env or {})
        measured = self._watch(f"gateway{index}", gateway)
        found = self._workers(measured, workers, settings.get("node_port")) if workers > 1 else []
        return GatewayUnderTest(Scene(gateway, self.emulator.server).setup(), measured, found)

    def _workers(self, box: Measured[Gateway], count: int, node_port: int | None) -> list[MeasuredWorker]:
        """The worker processes of ``box`` once each answers on its node port, ordered by node port."""
        assert node_port, "serve --workers needs node_port: each worker's own port is node_port + i"
        urls = [f"http://127.0.0.1:{node_port + i}" for i in range(count)]

        def answering() -> bool:
            try:
                return all(httpx.get(f"{u}/health", timeout=2, trust_env=False).status_code == 200 for u in urls)
            except httpx.HTTPError:
                return False

        wait_until(answering, timeout=60, what=f"the {count} workers of {box.url}")
        ports = {int(c.environ()["CALLBRIDGE_NODE_PORT"]): c.pid for c in box.process.children()}
        nodes = [httpx.get(f"{u}/health", timeout=HTTP_TIMEOUT, trust_env=False).json()["data"]["Node"] for u in urls]
        return [
            MeasuredWorker(f"{box.name}w{i}", box.server, pid=ports[node_port + i], node_url=u, node=nodes[i])
            for i, u in enumerate(urls)
        ]

    def _watch(self, name: str, server: S) -> Measured[S]:
        """Start ``server`` and watch it; it is stopped with the bench even if it fails to start."""
        measured = Measured(name, server)
        self.servers.append(measured)
        server.start()
        return measured

    def stop(self) -> None:
        for measured in self.servers:
            measured.server.close()

    # ---- one measured stretch ----------------------------------------------------------------------------------

    def loadgen(self, plan: dict[str, Any]) -> tuple[subprocess.Popen[str], float]:
        """Start a load generator and wait until its peers are connected; the process and its READY time."""
        proc = self.spawn_loadgen(plan)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"load generator failed: {line}")
        return proc, float(line.split()[1])

    def spawn_loadgen(self, plan: dict[str, Any]) -> subprocess.Popen[str]:
        """Start a load generator (bench/loadgen.py) without waiting for it."""
        return subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen", json.dumps(plan)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=clean_environment(),
        )

    def measure(
        self,
        sut: list[Measured[Any]],
        others: list[Measured[Any]],
        loadgens: list[subprocess.Popen[str]],
        settle: float,
        window: float,
        lag: Any,
    ) -> dict[str, Any]:
        """Let the load settle, then watch ``window`` seconds: CPU of every process, memory of the system under
        test, and its event-loop lag over the window (``lag(seconds)``)."""
        time.sleep(settle)
        watched = [*sut, *others]
        cpu0 = {s.name: s.cpu_seconds() for s in watched}
        gen0 = [psutil.Process(p.pid).cpu_times() for p in loadgens]
        t0 = time.monotonic()
        time.sleep(window)
        t1 = time.monotonic()
        cpu = {s.name: (s.cpu_seconds() - cpu0[s.name]) / (t1 - t0) * 1000 for s in watched}
        gen1 = [psutil.Process(p.pid).cpu_times() for p in loadgens]
        cpu["loadgen"] = (
            sum((b.user + b.system - a.user - a.system) for a, b in zip(gen0, gen1, strict=True)) / (t1 - t0) * 1000
        )
        return {
            "window": (t0, t1),
            "cpu_ms_per_s": {k: round(v, 1) for k, v in cpu.items()},
            "rss_mb": {s.name: round(s.rss_mb(), 1) for s in sut},
            "lag": lag(t1 - t0),
        }

    def figures(
        self,
        users: list[dict],
        browsers: list[dict],
        window: tuple[float, float],
        loss: float,
        others: list[dict] | None = None,
    ) -> dict:
        """Latency both ways from markers, between each user and its browser; on-time frames against what the
        window should have carried, counting ``others`` too (more peers in the calls, each hearing 50 frames/s)."""
        others = others or []
        to_browser = [
            x for u, b in zip(users, browsers, strict=True) for x in latencies(u["sent"], b["received"], window)
        ]
        to_user = [x for u, b in zip(users, browsers, strict=True) for x in latencies(b["sent"], u["received"], window)]
        seconds = window[1] - window[0]
        expected = (len(users) * ((1 - loss) + 1) + len(others)) * seconds * FRAMES_PER_SECOND
        on_time = sum(
            count_between(peer["arrivals"], window) - count_between(peer["late"], window)
            for peer in [*users, *browsers, *others]
        )
        ms = lambda xs, q: pct([x * 1000 for x in xs], q)  # noqa: E731
        return {
            "latency_ms": {
                "whatsapp_to_browser": {
                    "p50": ms(to_browser, 0.5),
                    "p95": ms(to_browser, 0.95),
                    "p99": ms(to_browser, 0.99),
                    "markers": len(to_browser),
                },
                "browser_to_whatsapp": {
                    "p50": ms(to_user, 0.5),
                    "p95": ms(to_user, 0.95),
                    "p99": ms(to_user, 0.99),
                    "markers": len(to_user),
                },
            },
            "on_time": round(min(1.0, on_time / expected), 4) if expected else None,
        }

    def finish(self, result: dict[str, Any], n: int) -> dict[str, Any]:
        """A step's figures per call, and whether it kept up (frames on time, loop lag under target)."""
        result.pop("window")
        result["calls"] = n
        sut_cpu = sum(v for k, v in result["cpu_ms_per_s"].items() if k.startswith(("gateway", "baseline")))
        result["sut_cpu_ms_per_s"] = round(sut_cpu, 1)
        result["cpu_ms_per_call_s"] = round(sut_cpu / n, 1)
        result["machine_cpu_ms_per_s"] = round(sum(result["cpu_ms_per_s"].values()), 1)
        result["passed"] = bool(
            result["on_time"] is not None
            and result["on_time"] >= ON_TIME_TARGET
            and result["lag"]["p99"] < LAG_TARGET_MS
        )
        return result


def save_results(out: Path, results: dict[str, Any], table: str) -> None:
    """``results`` as JSON at ``out`` and ``table`` (Markdown) beside it, ``out`` with ``.md``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import aiortc
    import av

    return {
        "cpu": model or platform.processor(),
        "cores": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "av": av.__version__,
        "os": platform.platform(),
    }
