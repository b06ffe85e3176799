"""ICE settings, always explicit: aiortc would otherwise use Google's STUN server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_original_host_addresses = aioice.ice.get_host_addresses


@dataclass(frozen=True)
class IceSettings:
    servers: tuple[RTCIceServer, ...] = ()
    hosts: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, servers_json: str | None, hosts: str | None) -> IceSettings:
        return cls(servers=tuple(parse_ice_servers(servers_json)), hosts=tuple(parse_hosts(hosts)))

    def configuration(self) -> RTCConfiguration:
        return RTCConfiguration(iceServers=list(self.servers))


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
        urls = entry["urls"]
        servers.append(
            RTCIceServer(
                urls=urls if isinstance(urls, list) else [urls],
                username=entry.get("username"),
                credential=entry.get("credential"),
            )
        )
    return servers


def parse_hosts(text: str | None) -> list[str]:
    return [host.strip() for host in (text or "").split(",") if host.strip()]


def gather_on(hosts: Sequence[str]) -> None:
    """Gather host candidates only on ``hosts``; aioice skips 127.0.0.1 unless told (loopback tests, demos).

    aioice reads its module-level helper for every connection, so this is per process.
    """
    if not hosts:
        aioice.ice.get_host_addresses = _original_host_addresses
        return
    wanted = list(hosts)

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [h for h in wanted if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses
