"""Where webhooks may go: never to link-local or cloud-metadata addresses, to private and loopback ones only when
allowed. A URL is checked when it is set (a literal address or ``localhost``) and again at every delivery, on the
addresses its name resolves to then, which are the ones connected to: a name that later resolves elsewhere (DNS
rebinding) cannot reach what the check refused."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address

# Refused whatever the setting: nothing a webhook should reach lives there, and cloud credentials do.
ALWAYS_REFUSED = (
    ip_network("169.254.0.0/16"),  # IPv4 link-local, with AWS/GCP/Azure/OpenStack metadata at 169.254.169.254
    ip_network("fe80::/10"),  # IPv6 link-local
    ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
)
ALLOW_PRIVATE_HINT = "set CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE=true to allow it"


class RefusedAddress(Exception):
    """The webhook's host is, or resolves to, an address webhooks must not go to."""


def refusal(address: Address, allow_private: bool) -> str | None:
    """Why webhooks must not go to ``address`` ("a ... address"), or None when they may."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254 to the kernel
    if any(address in network for network in ALWAYS_REFUSED):
        return "a link-local or cloud metadata address, never allowed"
    if address.is_unspecified or address.is_multicast or (address.is_reserved and not address.is_loopback):
        return "not a unicast address a webhook can be at"
    if address.is_loopback or not address.is_global or _site_local(address):
        return None if allow_private else f"a private or loopback address ({ALLOW_PRIVATE_HINT})"
    return None


def _site_local(address: Address) -> bool:
    return isinstance(address, IPv6Address) and address.is_site_local


def is_localhost(host: str) -> bool:
    """``localhost`` and its subdomains are loopback by definition (RFC 6761); never asked of DNS."""
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


def literal_address(host: str) -> Address | None:
    """The address ``host`` spells (also the forms the resolver reads as one: ``127.1``, ``2130706433``), or None
    for a name. Asks no resolver."""
    try:
        infos = socket.getaddrinfo(host.split("%")[0], None, flags=socket.AI_NUMERICHOST)  # no zone (fe80::1%eth0)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ip_address(str(infos[0][4][0]).split("%")[0])


def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why a webhook URL is refused by its host alone, or None. Other names are checked when they are resolved."""
    host = urlsplit(url).hostname or ""
    address = IPv4Address("127.0.0.1") if is_localhost(host) else literal_address(host)
    why = refusal(address, allow_private) if address is not None else None
    if why is None:
        return None
    return f"{host} is {why}" if str(address) == host or is_localhost(host) else f"{host} ({address}) is {why}"


async def resolve(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``, each checked; raises RefusedAddress when any is refused (a name
    with one good address and one bad one is a trick, not a misconfiguration), OSError when it does not resolve."""
    if is_localhost(host):
        addresses = ["127.0.0.1", "::1"]
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        why = refusal(ip_address(address.split("%")[0]), allow_private)
        if why is not None:
            raise RefusedAddress(f"{host} is {why}" if address == host else f"{host} resolves to {address}, {why}")
    return addresses
