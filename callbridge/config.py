"""Settings, read from ``CALLBRIDGE_*`` environment variables and CLI flags (flags win)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from callbridge.store.secrets import SecretBox

ADMIN_TOKEN_FILE = "admin_token"
CALL_TOKEN_KEY_FILE = "call_token_key"
SECRET_KEY_FILE = "secret_key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLBRIDGE_", extra="ignore")

    host: str = Field("127.0.0.1", description="gateway listen address")
    port: int = Field(1337, description="gateway listen port")
    admin_token: SecretStr | None = Field(
        None, description="admin token; generated on first start and stored in the data dir when unset"
    )
    data_dir: Path = Field(Path("./data"), description="database file and generated secrets")
    files_dir: Path = Field(Path("./files"), description="root for AudioFile and recording Path")
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key(s) encrypting the secrets in the database, comma-separated: the first encrypts, "
        "all decrypt; generated on first start and stored in the data dir when unset",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; SQLite in the data dir when unset (postgresql+asyncpg://...)"
    )
    public_url: str | None = Field(
        None, description="URL the gateway is reachable at, used to print Meta's webhook callback URL"
    )

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(False, description="log one JSON object per line")
    max_body_bytes: int = Field(256 * 1024, description="largest request body accepted (413 above it)")
    header_timeout: float = Field(
        10.0, gt=0, description="seconds a client has to send a request's headers before its connection is closed"
    )
    body_timeout: float = Field(30.0, gt=0, description="seconds a client has to send a request's body (408 after)")
    max_connections_per_client: int = Field(
        256, ge=0, description="open connections one client address may hold (0: no limit)"
    )
    cors_origins: str = Field(
        "",
        description="comma list of origins (https://app.example.com) whose pages may call the API and load the SDK"
        " from the browser (CORS); none by default",
    )
    proxy_addresses: str = Field(
        "127.0.0.1,::1",
        description="comma list of addresses (a reverse proxy) whose connections the per-client limit ignores",
    )

    webhook_timeout: float = Field(10.0, description="seconds to wait for the app's webhook to answer")
    webhook_retry_base: float = Field(1.0, description="first retry delay in seconds (doubles per attempt)")
    webhook_retry_cap: float = Field(300.0, description="longest delay between two attempts, in seconds")
    webhook_give_up_after: float = Field(
        86400.0, description="age in seconds after which an undelivered event is marked dead"
    )
    webhook_concurrency: int = Field(
        4, ge=1, description="deliveries in flight at once to one webhook URL (events of one call go one at a time)"
    )
    webhook_allow_private: bool = Field(
        False,
        description="allow webhooks to private and loopback addresses (link-local and cloud metadata never are)",
    )

    ring_timeout: float = Field(
        45.0, description="seconds an incoming call may ring before the gateway rejects it (Meta allows 30-60)"
    )
    ice_servers: str | None = Field(
        None, description='JSON list of {"urls", "username"?, "credential"?}; none means host candidates only'
    )
    ice_hosts: str | None = Field(
        None, description="comma list of addresses to gather host candidates on (127.0.0.1 for loopback; * = all)"
    )
    turn_secret: SecretStr | None = Field(
        None, description="TURN REST shared secret (coturn static-auth-secret): TURN entries get ephemeral credentials"
    )
    turn_ttl: int = Field(3600, description="lifetime in seconds of the TURN credentials handed out")
    public_ip: str | None = Field(None, description="address to advertise for hosts behind a 1:1 NAT (cloud VMs)")
    ice_relay_only: bool = Field(False, description="the gateway's own legs use TURN relays only")
    call_token_ttl: int = Field(3600, description="lifetime in seconds of the call-scoped browser tokens")
    max_endpoints: int = Field(
        8, ge=1, le=64, description="endpoints (browsers, later RTP apps and bots) one call may carry at once"
    )
    recording_announcement: str | None = Field(
        None,
        description="file under the files dir played to everyone before each recording starts (consent notice); "
        'a request\'s Announce overrides it, Announce "" skips it',
    )
    rtp_host: str = Field(
        "127.0.0.1",
        description="address native RTP endpoints (POST /call/rtp) bind to and hand out as LocalAddress: one the apps"
        " can reach",
    )
    rtp_ports: str = Field(
        "40000-40999",
        pattern=r"^\s*\d{4,5}\s*(-\s*\d{4,5}\s*)?$",
        description="UDP port range for RTP endpoints, FIRST-LAST; each endpoint takes an even port and the next one"
        " (RTCP)",
    )
    rtp_idle: float = Field(
        30.0, gt=0, description="seconds an RTP endpoint may receive nothing (RTP or RTCP) before it is detached"
    )

    @field_validator("rtp_ports")
    @classmethod
    def _rtp_port_range(cls, value: str) -> str:
        first, _, last = value.strip().partition("-")
        low, high = int(first), int(last or first)
        if not 1024 <= low < high <= 65535:
            raise ValueError("must be FIRST-LAST within 1024-65535, with room for an even port and the next one")
        return value

    node_id: str | None = Field(
        None, description="this node's name among several sharing one database (default: hostname:port)"
    )
    node_url: str | None = Field(
        None, description="URL other nodes reach this one at (default: http://HOST:PORT, the node port if set)"
    )
    node_port: int | None = Field(
        None, description="a second listen port for node-to-node requests (--workers gives each worker its own)"
    )
    cluster_secret: SecretStr | None = Field(
        None,
        description="shared secret of the nodes of one cluster; setting it makes this process a node (needs"
        " PostgreSQL): calls owned elsewhere are forwarded, the outbox is shared, SIGTERM drains",
    )
    max_calls: int = Field(
        0, ge=0, description="live calls this node takes before new ones go to another node (0: no limit)"
    )
    drain_timeout: float = Field(
        600.0, ge=0, description="seconds a draining node (SIGTERM, several nodes) waits for its calls to end"
    )
    reuse_port: bool = Field(
        False, description="share the listen port with other processes (SO_REUSEPORT); --workers sets it"
    )
    node_timeout: float = Field(
        10.0, gt=0, description="seconds without a heartbeat after which a node is lost and its calls are ended"
    )
    metrics_public: bool = Field(
        False, description="serve GET /metrics to anyone (by default it needs the admin token)"
    )
    media_path: Literal["aiortc", "lean"] = Field(
        "lean",
        description="how RTP/RTCP of WebRTC legs and RTP endpoints is carried once DTLS is up: lean, our own packet"
        " path (SRTP in, rewrite, SRTP out, no task per frame), or aiortc's sender and receiver tasks (kept for one"
        " release, to compare and to fall back on)",
    )
    event_loop: Literal["auto", "asyncio", "uvloop"] = Field(
        "auto",
        description="the event loop of `serve`: uvloop when installed (pip install callbridge[uvloop]) or asyncio",
    )

    emulator_host: str = Field("127.0.0.1", description="emulator listen address")
    emulator_port: int = Field(1338, description="emulator listen port")
    demo_token: str = Field("demo", description="session token that `callbridge demo` provisions")

    def cors_origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'callbridge.db').resolve()}"

    @property
    def clustered(self) -> bool:
        """Whether this process is one node of several sharing the database."""
        return self.cluster_secret is not None

    def needs_postgres(self, nodes: bool | None = None) -> str | None:
        """Why this configuration cannot run (several nodes on SQLite), or None. ``nodes``: whether several
        nodes are meant (default: whether a cluster secret is set)."""
        several = self.clustered if nodes is None else nodes
        if several and not self.resolved_database_url().startswith("postgresql"):
            return (
                "several nodes (CALLBRIDGE_CLUSTER_SECRET, --workers) share one PostgreSQL database: set"
                " CALLBRIDGE_DATABASE_URL=postgresql+asyncpg://... (SQLite is for a single node)"
            )
        return None

    def resolved_node_id(self) -> str:
        return self.node_id or f"{socket.gethostname()}:{self.node_port or self.port}"

    def resolved_node_url(self) -> str:
        if self.node_url:
            return self.node_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else socket.gethostname()
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.node_port or self.port}"

    def ensure_dirs(self) -> None:
        # The data dir holds the database and every generated secret: owner-only, older ones tightened too.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.data_dir.stat().st_mode & 0o077:
            with contextlib.suppress(PermissionError):  # a directory we do not own: its owner chose its mode
                self.data_dir.chmod(0o700)
        self.files_dir.mkdir(parents=True, exist_ok=True)

    def load_or_create_admin_token(self) -> tuple[str, bool]:
        """Return the admin token and whether it was generated just now (so the caller prints it once)."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value(), False
        return self._secret_file(ADMIN_TOKEN_FILE)

    def call_token_key(self) -> str:
        """The key that signs call-scoped browser tokens: derived from the cluster secret on a node, so that every
        node takes every node's tokens; otherwise generated once and kept in the data dir."""
        if self.cluster_secret is not None:
            secret = self.cluster_secret.get_secret_value().encode()
            return hmac.new(secret, b"callbridge call tokens", hashlib.sha256).hexdigest()
        return self._secret_file(CALL_TOKEN_KEY_FILE)[0]

    def secret_box(self) -> SecretBox:
        """The keys that encrypt the database's secrets: ``secret_key``, else the data dir's key file (made once)."""
        from callbridge.store import key_file  # not at the top: the CLI's light commands skip the database code
        from callbridge.store.secrets import SecretBox

        if self.secret_key is not None:
            return SecretBox(key_file.split_keys(self.secret_key.get_secret_value()))
        return SecretBox(key_file.load_or_create(self.secret_key_file())[0])

    def secret_key_file(self) -> Path:
        return self.data_dir / SECRET_KEY_FILE

    def _secret_file(self, name: str) -> tuple[str, bool]:
        path = self.data_dir / name
        if path.exists():
            if path.stat().st_mode & 0o077:  # written by an older version: tighten it
                with contextlib.suppress(PermissionError):
                    path.chmod(0o600)
            return path.read_text().strip(), False
        secret = secrets.token_urlsafe(32)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secret + "\n")
        return secret, True
