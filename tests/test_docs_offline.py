"""/docs with no network: Chromium may reach the gateway and nothing else (every other request is aborted), and
Swagger UI still renders the operations, from the copy the gateway serves. A screenshot is kept for CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Route, expect

from callbridge.testing import Gateway
from tests.support.chromium import chromium, microphone_wav

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


def test_docs_render_with_the_network_blocked(shared_gateway: Gateway, tmp_path: Path) -> None:
    served: list[str] = []
    aborted: list[str] = []

    def only_the_gateway(route: Route) -> None:
        url = route.request.url
        if url.startswith(shared_gateway.url + "/"):
            served.append(url)
            route.continue_()
        else:
            aborted.append(url)
            route.abort()

    with chromium(microphone_wav(tmp_path / "mic.wav", 440, seconds=1)) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.route("**/*", only_the_gateway)
        page.goto(f"{shared_gateway.url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("callbridge", timeout=15000)
        make = page.locator(".opblock-summary-path", has_text="/call/make").first
        expect(make).to_be_visible()
        expect(page.locator(".opblock-summary-path", has_text="/files/{path}").first).to_be_visible()
        make.click()  # an operation opens, with its schema
        expect(page.locator(".opblock-body").first).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "docs-offline.png"))

    assert aborted == []  # the page asked for nothing outside the gateway
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in served), served
    assert any(url.endswith("/openapi.json") for url in served), served
