"""deploy/: the Grafana dashboard queries metrics a live gateway serves, Debian's nginx accepts the site, and the
systemd unit gives a stop time to drain calls."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from callbridge.config import Settings
from callbridge.testing import Gateway

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def served_names(text: str) -> set[str]:
    """Every metric and sample name in a /metrics answer (families without samples yet show in # TYPE)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_the_dashboard_queries_only_metrics_the_gateway_serves(gateway: Gateway) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "callbridge-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    queried = {name for expr in expressions(dashboard) for name in re.findall(r"\bcallbridge_[a-z0-9_]+", expr)}
    assert len(queried) >= 15

    r = gateway.get("/metrics", admin=True)
    assert r.status_code == 200
    served = served_names(r.text)
    missing = set()
    for name in queried:
        family = next((name.removesuffix(part) for part in HISTOGRAM_PARTS if name.endswith(part)), name)
        if name not in served and family not in served:
            missing.add(name)
    assert not missing, f"the dashboard queries metrics /metrics does not serve: {sorted(missing)}"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calls.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed: make test installs it (scripts/install-test-deps.sh)"
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "callbridge.conf").read_text()
    placeholders = {
        "/etc/letsencrypt/live/calls.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/calls.example.com/privkey.pem": str(key),
    }
    for placeholder, real in placeholders.items():
        assert placeholder in site
        site = site.replace(placeholder, real)
    (tmp_path / "callbridge.conf").write_text(site)
    temp = "\n".join(f"    {kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi"))
    temp += f"\n    uwsgi_temp_path {tmp_path}/uwsgi;\n    scgi_temp_path {tmp_path}/scgi;"
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        f"    access_log off;\n{temp}\n    include {tmp_path}/callbridge.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # What the gateway needs from its front, said in the site itself.
    assert f"client_max_body_size {Settings().max_body_bytes // 1024}k;" in site
    sse = site[site.index("location = /call/events") :]
    assert "proxy_buffering off;" in sse.split("}")[0] and "proxy_read_timeout 1h;" in sse.split("}")[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in site
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in site


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(min|s)?", value)
    assert match, value
    return float(match[1]) * (60 if match[2] == "min" else 1)


def test_the_systemd_unit_drains_before_it_kills() -> None:
    unit = directives((DEPLOY / "systemd" / "callbridge.service").read_text())
    assert unit["ExecStart"][0].endswith("callbridge serve")
    assert unit["KillSignal"] == ["SIGTERM"]
    drain = next(v.partition("=")[2] for v in unit["Environment"] if v.startswith("CALLBRIDGE_DRAIN_TIMEOUT="))
    assert seconds(unit["TimeoutStopSec"][0]) > seconds(drain) >= 600
    assert "EnvironmentFile" in unit and unit["NoNewPrivileges"] == ["yes"]


def test_coturn_takes_the_gateway_s_ephemeral_credentials() -> None:
    text = (DEPLOY / "coturn" / "turnserver.conf").read_text()
    conf = directives(text)
    flags = {line.strip() for line in text.splitlines() if line.strip() and "=" not in line and line[0] != "#"}
    assert "use-auth-secret" in flags and "CALLBRIDGE_TURN_SECRET" in conf["static-auth-secret"][0]
    assert conf["realm"] and "allow-loopback-peers" not in flags  # loopback relays are for tests only
    assert "127.0.0.0-127.255.255.255" in conf["denied-peer-ip"]
