"""Where webhooks may go (unit): the address rules, and deliveries connecting only to the addresses just checked.
Nothing here resolves a name through DNS or opens a connection."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address
from typing import Any

import httpx
import pytest

from callbridge.events.sender import post_pinned
from callbridge.events.webhook_address import RefusedAddress, refusal, resolve, url_refusal

NEVER = ["169.254.169.254", "169.254.1.1", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254", "100.100.100.200"]
PRIVATE = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "::1", "fc00::1", "100.64.0.1", "::ffff:10.0.0.1"]
PUBLIC = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


@pytest.mark.parametrize("address", NEVER)
def test_link_local_and_metadata_addresses_are_refused_even_when_private_ones_are_allowed(address: str) -> None:
    assert "link-local or cloud metadata" in (refusal(ip_address(address), allow_private=True) or "")


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_addresses_need_the_setting(address: str) -> None:
    assert "CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE=true" in (refusal(ip_address(address), allow_private=False) or "")
    assert refusal(ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_fine(address: str) -> None:
    assert refusal(ip_address(address), allow_private=False) is None


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255"])
def test_addresses_no_webhook_can_be_at_are_refused(address: str) -> None:
    assert refusal(ip_address(address), allow_private=True) is not None


def test_urls_are_judged_by_a_literal_host_or_localhost_without_asking_a_resolver() -> None:
    assert "never allowed" in (url_refusal("http://169.254.169.254/latest/meta-data", True) or "")
    assert "never allowed" in (url_refusal("http://[fd00:ec2::254]/", True) or "")
    assert "never allowed" in (url_refusal("http://[::ffff:a9fe:a9fe]/", True) or "")
    for url in ("http://localhost:8080/hook", "http://LOCALHOST./", "http://api.localhost/", "http://127.1/"):
        assert "ALLOW_PRIVATE" in (url_refusal(url, False) or ""), url
        assert url_refusal(url, True) is None, url
    assert "(127.0.0.1)" in (url_refusal("http://2130706433/", False) or "")  # what the resolver reads it as
    assert url_refusal("https://app.example/hook", False) is None  # names wait for delivery


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: list[list[str]]) -> list[str]:
    """socket.getaddrinfo answering each call with the next list of addresses (as DNS rebinding does)."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        addresses = answers[min(len(asked), len(answers)) - 1]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_name_that_rebinds_to_a_refused_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_dns(monkeypatch, [["93.184.216.34"], ["169.254.169.254"], ["93.184.216.34", "10.1.2.3"]])
    assert asyncio.run(resolve("hooks.example", 443, allow_private=False)) == ["93.184.216.34"]
    with pytest.raises(RefusedAddress, match=r"hooks.example resolves to 169.254.169.254, a link-local"):
        asyncio.run(resolve("hooks.example", 443, allow_private=True))
    with pytest.raises(RefusedAddress, match=r"resolves to 10.1.2.3, a private"):  # one bad address is enough
        asyncio.run(resolve("hooks.example", 443, allow_private=False))
    assert asked == ["hooks.example"] * 3


def test_a_delivery_connects_to_the_checked_address_and_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, [["93.184.216.34"], ["169.254.169.254"]])
    seen: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def deliver() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(app)) as http:
            response = await post_pinned(
                http, "https://hooks.example:8443/in?x=1", b"body", {"X-Test": "1"}, allow_private=False
            )
            with pytest.raises(RefusedAddress):  # the next time it resolves to the metadata address
                await post_pinned(http, "https://hooks.example:8443/in", b"body", {}, allow_private=False)
            return response.status_code

    assert asyncio.run(deliver()) == 204
    [request] = seen  # the refused one never left
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["Host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert request.headers["X-Test"] == "1"
