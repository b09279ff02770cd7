"""/docs in a real browser: Swagger UI (from npm, served by PayHub) renders /openapi.json,
with nothing loaded from anywhere but PayHub itself."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_api_reference_renders_from_payhub_alone(hub, new_page):
    page = new_page()
    requested, errors = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{hub.url}/docs")
    page.wait_for_selector("text=Create a payment")
    assert "PayHub" in page.locator(".information-container .title").inner_text()
    for summary in ("The polling fallback", "An operator's decision on a payment under review",
                    "Sandbox gateway callback", "The database and message queue answer"):
        assert page.get_by_text(summary, exact=True).count() >= 1, summary
    page.get_by_text("Create a payment", exact=True).first.click()
    page.wait_for_selector("text=order_conflict")  # the operation's documented answers unfold
    screenshot(page, "api-docs")
    outside = [url for url in requested if not url.startswith((hub.url, "data:", "blob:"))]
    assert not outside, f"/docs loaded from elsewhere: {outside}"
    assert not errors, errors
