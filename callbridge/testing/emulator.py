"""The emulator (`callbridge emulator`: Meta's Graph API and the WhatsApp users) as a real process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Self

from .responses import expect_ok
from .server_process import ServerProcess
from .waiting import free_port


class Emulator(ServerProcess):
    """`callbridge emulator` on 127.0.0.1 and a free port; users' ``say="file:NAME"`` files are in
    ``workdir/files``. ``flags`` are more of its command-line flags, e.g. ``"--media-timeout", "2"``."""

    def __init__(self, workdir: Path, *flags: str, log_level: str = "INFO") -> None:
        workdir = Path(workdir)
        port = free_port()
        self.files_dir = workdir / "files"
        command = [sys.executable, "-m", "callbridge", "emulator", "--emulator-host", "127.0.0.1"]
        command += ["--emulator-port", str(port), "--files-dir", str(self.files_dir), "--log-level", log_level]
        super().__init__(workdir, "emulator", [*command, *flags], "/emulator/calls", port)

    def start(self) -> Self:
        """Start the emulator and return once it answers."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        return super().start()

    def call(self, call_id: str, last: float | None = None) -> dict[str, Any]:
        """A call as the WhatsApp user sees it: ``state``, ``end_reason``, ``media`` and ``heard`` (``seconds``,
        ``dominant_hz``, ``rms_dbfs``, ``peaks_hz``; over the last ``last`` seconds if given)."""
        params = {"last": last} if last else None
        call: dict[str, Any] = expect_ok(self.client.get(f"/emulator/calls/{call_id}", params=params)).json()
        return call
