"""``make soak``: bridged calls placed, played into and recorded, in cycles, for many minutes. The gateway reports
its memory, open files, asyncio tasks and peer connections (``/health`` → ``runtime``); they are printed every
sample period, and judged at the idle point after each cycle (every call ended): after warm-up, none may grow.

    python -m bench.soak --minutes 30 --calls 20       # writes bench/results/soak.{json,md}; exit 1 on growth
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import struct
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import RESULTS, save_results
from bench.peers import BenchPeer, loopback_only
from callbridge.emulator.peer import BUSINESS_MARKER_HZ, USER_MARKER_HZ
from callbridge.testing import Emulator, Gateway, Scene

PLAYED = "soak/played.wav"
# What growth after warm-up is tolerated at an idle point: one object leaked per call shows in these. Memory
# has its own allowance (SoakPlan.rss_allowance_mb): the allocator's arenas and the codecs' caches fill over the
# first ~40 calls (about 20 MB, measured), then memory stays flat.
ALLOWED = {"peerConnections": 0, "tasks": 2, "openFiles": 4}


class Dropped(Exception):
    """A call ended by itself before the soak was done with it."""


@dataclass
class SoakPlan:
    minutes: float = 30.0
    calls: int = 20
    cycle_seconds: float = 20.0  # each cycle holds its calls this long
    sample_every: float = 60.0
    warmup_minutes: float | None = None  # a third of the run when unset
    rss_allowance_mb: float = 10.0

    @property
    def warmup(self) -> float:
        return self.warmup_minutes if self.warmup_minutes is not None else self.minutes / 3


@dataclass
class SoakResult:
    plan: SoakPlan
    cycles: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)  # every sample period
    idle: list[dict[str, Any]] = field(default_factory=list)  # after each cycle, no call live
    growth: dict[str, float] = field(default_factory=dict)  # last idle point minus the first after warm-up
    dropped: list[str] = field(default_factory=list)  # calls that ended by themselves (e.g. media lost under load)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and bool(self.growth)


def write_tone(path: Path, hz: float = 500.0, seconds: float = 1.5, rate: int = 48000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = (int(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))


class Soak:
    def __init__(self, plan: SoakPlan, scene: Scene, files_dir: Path) -> None:
        self.plan = plan
        self.scene = scene
        self.files_dir = files_dir
        self.result = SoakResult(plan)
        self.http = httpx.AsyncClient(base_url=scene.gateway.url, headers={"token": scene.token}, timeout=60)

    async def run(self) -> SoakResult:
        loopback_only()
        write_tone(self.files_dir / PLAYED)
        users = [self.scene.user(say="tone:440", answer_after_ms=0) for _ in range(self.plan.calls)]
        self.started = time.monotonic()
        deadline = self.started + self.plan.minutes * 60
        sampler = asyncio.create_task(self._sample_periodically())
        try:
            while time.monotonic() < deadline:
                await self._cycle(users)
                self.result.cycles += 1
                self.result.idle.append(await self._idle_sample())
        finally:
            sampler.cancel()
            await self.http.aclose()
        self._judge()
        return self.result

    async def _cycle(self, users: list[str]) -> None:
        await asyncio.gather(*(self._one_call(n, user) for n, user in enumerate(users)))
        shutil.rmtree(self.files_dir / "soak" / "rec", ignore_errors=True)

    async def _one_call(self, n: int, user: str) -> None:
        """One call's life: placed, answered, joined by a browser, recorded and played into, held, ended. A call
        that ends by itself on the way (its media lost on an overloaded machine) is counted as dropped: what it
        held must be released all the same, and the idle point checks that."""
        await asyncio.sleep(n * 0.2)  # placed one after another, as an app would, not all in one instant
        peer = BenchPeer(BUSINESS_MARKER_HZ, USER_MARKER_HZ)
        try:
            call_id = (await self._post("/call/make", {"Phone": user}))["call"]["CallID"]
            await self._until_active(call_id)
            offer = {"callID": call_id, "type": "offer"}
            try:
                await peer.connect(self.http, f"{self.scene.gateway.url}/call/webrtc/offer", offer)
            except httpx.HTTPStatusError as exc:
                raise Dropped(f"{call_id}: {exc.response.text}") from exc
            path = f"soak/rec/{self.result.cycles}-{n}.wav"
            await self._post("/call/record", {"CallID": call_id, "Path": path, "SampleRate": 16000})
            await self._post("/call/play", {"CallID": call_id, "AudioFile": PLAYED})
            await asyncio.sleep(self.plan.cycle_seconds)
            await self._post("/call/record/stop", {"CallID": call_id})
            await self._post("/call/end", {"CallID": call_id})
        except Dropped as exc:
            self.result.dropped.append(str(exc))
        finally:
            await peer.close()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        if response.status_code == 409:  # the call ended, or is ending, by itself
            raise Dropped(f"{body.get('CallID')}: {path}: {response.json()['error']}")
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
        data: dict[str, Any] = response.json()["data"]
        return data

    async def _until_active(self, call_id: str) -> None:
        for _ in range(300):
            call = (await self.http.get("/call/status", params={"CallID": call_id})).json()["data"]["call"]
            if call["State"] == "active":
                return
            if call["State"] == "ended":
                raise Dropped(f"{call_id} ended before it was answered: {call.get('EndReason')}")
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{call_id} was not answered within 30 s")

    async def _runtime(self) -> dict[str, Any]:
        health = (await self.http.get("/health")).json()["data"]
        figures: dict[str, Any] = health["runtime"]
        return {"at": round(time.monotonic(), 1), "calls": health["calls"], **figures}

    async def _sample_periodically(self) -> None:
        started = time.monotonic()
        while True:
            sample = await self._runtime()
            sample["minute"] = round((time.monotonic() - started) / 60, 2)
            self.result.samples.append(sample)
            print(json.dumps(sample), flush=True)
            await asyncio.sleep(self.plan.sample_every)

    async def _idle_sample(self) -> dict[str, Any]:
        """Once the ended calls' legs are closed: what the gateway keeps between cycles."""
        sample = await self._runtime()
        for _ in range(50):
            if sample["calls"] == 0 and sample["peerConnections"] == 0:
                break
            await asyncio.sleep(0.1)
            sample = await self._runtime()
        return {**sample, "cycle": self.result.cycles, "minute": round((time.monotonic() - self.started) / 60, 2)}

    def _judge(self) -> None:
        settled = [point for point in self.result.idle if point["minute"] >= self.plan.warmup]
        if len(settled) < 2:
            self.result.failures.append(f"only {len(settled)} idle points after warm-up: run longer")
            return
        first, last = settled[0], settled[-1]
        for name, allowed in {**ALLOWED, "rssMb": self.plan.rss_allowance_mb}.items():
            grew = round(last[name] - first[name], 1)
            self.result.growth[name] = grew
            if grew > allowed:
                self.result.failures.append(f"{name} grew by {grew} after warm-up (allowed {allowed})")
        if any(point["peerConnections"] for point in settled):
            self.result.failures.append("peer connections were left open after their calls ended")


def run_soak(plan: SoakPlan, workdir: Path) -> SoakResult:
    with (
        Emulator(workdir / "emulator") as emulator,
        Gateway(workdir / "gateway", ice_hosts="127.0.0.1") as gateway,
    ):
        scene = Scene(gateway, emulator).setup()
        return asyncio.run(Soak(plan, scene, workdir / "gateway" / "files").run())


def markdown(result: SoakResult) -> str:
    plan = result.plan
    lines = [
        f"Soak: {plan.calls} calls a cycle, {plan.cycle_seconds:g} s each, for {plan.minutes:g} minutes "
        f"({result.cycles} cycles): {'passed' if result.passed else 'FAILED'}",
        "",
        "| cycle | minute | RSS (MB) | open files | tasks | peer connections |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {p['cycle']} | {p['minute']} | {p['rssMb']} | {p['openFiles']} | {p['tasks']} | {p['peerConnections']} |"
        for p in result.idle
    ]
    lines += ["", f"Growth after warm-up (the first {plan.warmup:g} minutes): {result.growth}"]
    if result.dropped:
        lines += [f"Calls that ended by themselves: {len(result.dropped)} of {result.cycles * plan.calls}"]
    lines += [f"- {failure}" for failure in result.failures]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--cycle-seconds", type=float, default=20.0)
    parser.add_argument("--sample-every", type=float, default=60.0)
    args = parser.parse_args()
    plan = SoakPlan(args.minutes, args.calls, args.cycle_seconds, args.sample_every)
    with tempfile.TemporaryDirectory(prefix="callbridge-soak-") as tmp:
        result = run_soak(plan, Path(tmp))
    save_results(RESULTS / "soak.json", {**asdict(result), "passed": result.passed}, markdown(result))
    print(markdown(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
