"""ICE settings, always explicit (aiortc would otherwise use Google's STUN server), with TURN REST credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

_original_host_addresses = aioice.ice.get_host_addresses


def turn_rest_credentials(secret: str, user: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """draft-uberti-behave-turn-rest (coturn ``use-auth-secret``): ``expiry:user`` and its base64 HMAC-SHA1."""
    username = f"{int(now if now is not None else time.time()) + ttl}:{user}"
    credential = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, credential


def is_turn(url: str) -> bool:
    return url.startswith(("turn:", "turns:"))


@dataclass(frozen=True)
class IceSettings:
    servers: tuple[RTCIceServer, ...] = ()
    hosts: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = 3600
    public_ip: str | None = None
    relay_only: bool = False  # for the gateway's own legs; browsers choose their own policy

    @classmethod
    def parse(
        cls,
        servers_json: str | None,
        hosts: str | None,
        turn_secret: str | None = None,
        turn_ttl: int = 3600,
        public_ip: str | None = None,
        relay_only: bool = False,
    ) -> IceSettings:
        return cls(
            servers=tuple(parse_ice_servers(servers_json)),
            hosts=tuple(parse_hosts(hosts)),
            turn_secret=turn_secret or None,
            turn_ttl=turn_ttl,
            public_ip=public_ip or None,
            relay_only=relay_only,
        )

    @property
    def turn_configured(self) -> bool:
        return any(is_turn(url) for server in self.servers for url in server.urls)

    def servers_for(self, user: str) -> list[RTCIceServer]:
        """The servers with credentials: TURN entries without their own get fresh REST credentials."""
        out = []
        for server in self.servers:
            if self.turn_secret and not server.username and any(is_turn(u) for u in server.urls):
                username, credential = turn_rest_credentials(self.turn_secret, user, self.turn_ttl)
                server = RTCIceServer(urls=list(server.urls), username=username, credential=credential)
            out.append(server)
        return out

    def configuration(self, user: str = "callbridge") -> RTCConfiguration:
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=self.servers_for(user), iceTransportPolicy=policy)

    def browser_config(self, user: str) -> list[dict[str, Any]]:
        """What a browser's RTCPeerConnection takes as ``iceServers`` (every URL: browsers use them all)."""
        entries = []
        for server in self.servers_for(user):
            entry: dict[str, Any] = {"urls": list(server.urls)}
            if server.username:
                entry["username"] = server.username
            if server.credential:
                entry["credential"] = server.credential
            entries.append(entry)
        return entries


def parse_ice_servers(text: str | None) -> list[RTCIceServer]:
    """``[{"urls": "stun:host:3478"}, {"urls": ["turn:..."], "username": "u", "credential": "p"}]``."""
    if not text:
        return []
    try:
        entries: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"ICE servers must be a JSON list: {exc}") from exc
    if not isinstance(entries, list):
        raise ValueError("ICE servers must be a JSON list of {urls, username?, credential?}")
    servers = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("urls"):
            raise ValueError(f"ICE server entry needs 'urls': {entry!r}")
        urls = entry["urls"] if isinstance(entry["urls"], list) else [entry["urls"]]
        for url in urls:
            if not re.match(r"^(stun|stuns|turn|turns):", url):
                raise ValueError(f"not a STUN or TURN URL: {url!r}")
        servers.append(RTCIceServer(urls=urls, username=entry.get("username"), credential=entry.get("credential")))
    return servers


def parse_hosts(text: str | None) -> list[str]:
    return [host.strip() for host in (text or "").split(",") if host.strip()]


def gather_on(hosts: Sequence[str]) -> None:
    """Gather host candidates only on ``hosts``; aioice skips 127.0.0.1 unless told (loopback tests, demos).
    ``*`` stands for every non-loopback address, as aioice would choose them.

    aioice reads its module-level helper for every connection, so this is per process.
    """
    if not hosts:
        aioice.ice.get_host_addresses = _original_host_addresses
        return
    wanted = [h for h in hosts if h != "*"]
    everything = "*" in hosts

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        chosen = [h for h in wanted if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]
        if everything:
            chosen += [a for a in _original_host_addresses(use_ipv4, use_ipv6) if a not in chosen]
        return chosen

    aioice.ice.get_host_addresses = host_addresses


def advertise_public_ip(sdp: str, public_ip: str) -> str:
    """Behind a 1:1 NAT (a cloud VM), host candidates carry the private address; advertise the public one."""
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:") and " typ host" in line:
            parts = line.split(" ")
            parts[4] = public_ip
            line = " ".join(parts)
        elif line.startswith("c=IN IP4 "):
            line = f"c=IN IP4 {public_ip}"
        out.append(line)
    return "\r\n".join(out)
