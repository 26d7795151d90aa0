"""/docs and /redoc render their operations in headless Chromium with every outside request refused.

Swagger UI and ReDoc come from the fastapi-offline package, served by the app itself; a page that
still reached for a CDN would stay blank here, as it would on a machine without internet.
"""

from __future__ import annotations

import re

import httpx
import pytest

REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
OPERATIONS = {"/predict", "/predict/batch", "/predict/video", "/healthz", "/readyz", "/v1/models", "/metrics"}


@pytest.fixture
def offline_page(browser, live_server: str):  # type: ignore[no-untyped-def]
    """A tab that may reach the service only: any other request is aborted and recorded."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(20_000)
    refused: list[str] = []

    def only_the_service(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_service)
    page = context.new_page()
    yield page, refused
    context.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_name_no_outside_url(live_server: str, path: str) -> None:
    html = httpx.get(f"{live_server}{path}", timeout=10).text
    assert re.findall(r"https?://", html) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static-offline-docs/") for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{live_server}{asset}", timeout=10).status_code == 200, asset


def test_swagger_ui_lists_every_operation_offline(offline_page) -> None:  # type: ignore[no-untyped-def]
    page, refused = offline_page
    page.goto("/docs")
    page.wait_for_selector(".opblock-summary-path")
    page.wait_for_function(f"() => document.querySelectorAll('.opblock-summary-path').length >= {len(OPERATIONS)}")
    paths = {text.strip() for text in page.locator(".opblock-summary-path").all_inner_texts()}
    assert paths >= OPERATIONS, paths
    assert refused == []


def test_redoc_renders_the_operations_offline(offline_page) -> None:  # type: ignore[no-untyped-def]
    page, refused = offline_page
    page.goto("/redoc")
    page.wait_for_function("() => document.body.innerText.includes('Predict Batch')")
    text = page.inner_text("body")
    assert "Predict Image" in text and "Predict Video" in text and "/v1/models" in text
    # ReDoc's bundle asks for one picture itself, the Redocly logo of its credit line; refused, it is
    # a missing image and nothing else.
    assert set(refused) <= {REDOCLY_LOGO}, refused
