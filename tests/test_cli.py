"""The ``callbridge`` command as a user runs it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx

from callbridge.cli import _settings as settings_from_args
from callbridge.cli import build_parser
from tests.support.net import free_port, wait_until


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callbridge", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_flags_override_environment(monkeypatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_PORT", "2000")
    monkeypatch.setenv("CALLBRIDGE_FILES_DIR", "/srv/files")
    settings = settings_from_args(build_parser().parse_args(["serve", "--port", "3000", "--log-json"]))
    assert settings.port == 3000
    assert str(settings.files_dir) == "/srv/files"
    assert settings.log_json is True


def test_token_create_makes_a_session_usable_by_the_gateway(tmp_path: Path) -> None:
    made = run(
        [
            "token",
            "create",
            "frontdesk",
            "--phone-number-id",
            "123",
            "--access-token",
            "a",
            "--app-secret",
            "b",
            "--verify-token",
            "c",
        ],
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 24

    again = run(["token", "create", "frontdesk"], tmp_path)
    assert again.returncode == 1
    assert "already exists" in again.stderr

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "callbridge", "serve", "--port", str(port), "--admin-token", "x" * 20],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def status() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/session/status", headers={"token": token})
            except httpx.HTTPError:
                return None

        r = wait_until(status, timeout=30, what="the gateway")
        assert r.status_code == 200
        assert r.json()["data"]["Connected"] is False
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_admin_token_is_generated_once_and_printed_once(tmp_path: Path) -> None:
    def serve_once() -> tuple[str, str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "callbridge", "serve", "--port", str(port)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "CALLBRIDGE_ADMIN_TOKEN"},
        )
        try:

            def sessions() -> httpx.Response | None:
                token = (
                    (tmp_path / "data" / "admin_token").read_text().strip()
                    if (tmp_path / "data" / "admin_token").exists()
                    else ""
                )
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/session/all", headers={"admintoken": token})
                except httpx.HTTPError:
                    return None

            assert wait_until(sessions, timeout=30, what="the gateway").status_code == 200
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=15)
        return out, (tmp_path / "data" / "admin_token").read_text().strip()

    first_out, first_token = serve_once()
    assert first_token in first_out
    assert oct((tmp_path / "data" / "admin_token").stat().st_mode & 0o777) == "0o600"
    second_out, second_token = serve_once()
    assert second_token == first_token
    assert first_token not in second_out


def test_demo_places_a_call_to_a_virtual_user(tmp_path: Path) -> None:
    """`make demo` runs `callbridge demo`: on a fresh directory it provisions everything and calls Alice."""
    gateway_port, emulator_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "callbridge",
            "demo",
            "--port",
            str(gateway_port),
            "--emulator-port",
            str(emulator_port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.strip().startswith("ended:"):
                break
        output = "".join(lines)
        assert "callbridge demo is running" in output
        assert f"http://127.0.0.1:{gateway_port}/?token=demo" in output  # the softphone, signed in
        admin_token = (tmp_path / "data" / "admin_token").read_text().strip()
        assert admin_token not in output  # provisioning is the demo's business: it prints no admin token
        assert "answered: active" in output
        assert "Alice heard" in output
        assert "ended: ended by the app" in output
        r = httpx.get(f"http://127.0.0.1:{gateway_port}/call/status", params={"History": 1}, headers={"token": "demo"})
        assert r.json()["data"]["calls"][0]["State"] == "ended"
        # The command it prints for "Alice calls the business" works as printed.
        [alice_calls] = [line.strip() for line in lines if "/emulator/users/15550001001/call" in line]
        no_proxy = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # curl reads those
        answer = subprocess.run(shlex.split(alice_calls), capture_output=True, text=True, timeout=15, env=no_proxy)
        call_id = json.loads(answer.stdout)["call_id"]
        r = httpx.get(
            f"http://127.0.0.1:{gateway_port}/call/status", params={"CallID": call_id}, headers={"token": "demo"}
        )
        assert r.json()["data"]["call"]["Direction"] == "incoming"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode in (0, -15), "".join(lines)
