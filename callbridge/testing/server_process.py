"""A server as a real child process on 127.0.0.1: started, awaited until it answers, stopped or killed."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from .waiting import free_port, wait_until

DRAIN_PATIENCE = 1.0  # seconds between the first SIGTERM and the second


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without CALLBRIDGE_* variables, plus ``extra``: a child is configured only
    by what the kit passes it, whatever the caller's shell exports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update(extra)
    return env


class ServerProcess:
    """Runs ``command`` in ``workdir`` (output to ``<name>.log`` there) and waits until ``GET probe`` is 200.

    Use as a context manager (started on entry, stopped on exit) or call :meth:`start` and :meth:`close`."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        command: Sequence[str],
        probe: str,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = list(command)
        self.probe = probe
        self.env = clean_environment(**(env or {}))
        self.start_timeout = start_timeout
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)
        """An HTTP client for this server (base URL set, no proxies from the environment)."""

    @property
    def pid(self) -> int:
        """The process id (the server must have been started)."""
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.proc.pid

    def running(self) -> bool:
        """Whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        """Start the process and return once it answers; raise AssertionError with its log if it exits."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # appended: a restarted server keeps its earlier log
            self.proc = subprocess.Popen(
                self.command, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self._answers, timeout=self.start_timeout, what=f"{self.name} on {self.url} (log: {self.log_path})")
        return self

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return self.client.get(self.probe).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, as a service manager stops it, and again after a moment (a node of several drains on the
        first, keeping its calls, and stops on the second); SIGKILL if it has not exited after ``timeout`` s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DRAIN_PATIENCE)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, like a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> Self:
        """Stop (gracefully) and start again on the same port, with the same data."""
        self.stop()
        return self.start()

    def log(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Stop the process and release the client."""
        self.stop()
        self.client.close()

    def __enter__(self) -> Self:
        return self if self.running() else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
