"""The demo shop's whole flow in a real browser: shop -> sandbox checkout -> live status page."""

from __future__ import annotations

import re

import pytest

from .conftest import PHONE, screenshot

pytestmark = pytest.mark.browser


def test_buy_pay_on_the_sandbox_and_watch_the_status_page_turn_to_success(hub, new_page):
    page = new_page(viewport=PHONE)
    page.goto(f"{hub.url}/")
    assert page.get_by_role("heading", name="Demo shop").is_visible()
    assert page.get_by_text("Paid with the sandbox (test) gateway").is_visible()  # the only one it uses
    screenshot(page, "shop")

    page.get_by_label("Dot-grid notebook").check()
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(r"/sandbox/checkout/sbx_"))
    assert page.locator(".amount").inner_text() == "₹249.50"
    screenshot(page, "sandbox-checkout")

    # Long enough for a loaded machine to load the status page and connect its socket first
    # (with 2 s, the success sometimes came before the page was live: nothing left to watch).
    page.get_by_label(re.compile("Wait before telling the shop")).fill("6")
    page.get_by_role("button", name="Pay", exact=True).click()
    page.wait_for_url(re.compile(r"/pay/pay_[^?]+\?token="))
    assert page.get_by_role("heading", name="Waiting for confirmation").is_visible()
    page.wait_for_selector("#connection[data-mode=live]")
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    screenshot(page, "status-pending")

    page.wait_for_selector('#payment[data-status="succeeded"]', timeout=15_000)
    assert page.evaluate("window.sameDocument") is True
    assert page.get_by_role("heading", name="Payment received").is_visible()
    assert page.locator("#amount").inner_text() == "₹249.50"
    back = page.get_by_role("link", name="Back to the shop")
    assert back.is_visible() and back.get_attribute("href") == f"{hub.url}/"
    screenshot(page, "status-success")

    # The shop's server side created the payment like a merchant backend would.
    payment_id = re.search(r"/pay/(pay_[^?]+)", page.url).group(1)
    payment = hub.payment(payment_id)
    assert (payment["status"], payment["amount"], payment["gateway"]) == ("succeeded", 24950, "sandbox")
    assert payment["metadata"] == {"item": "notebook", "source": "demo-shop"}
    assert [e["source"] for e in payment["events"] if e["applied"]] == ["webhook"]


def test_the_shop_never_shows_the_api_key(hub, new_page):
    page = new_page()
    page.goto(f"{hub.url}/")
    assert hub.headers["Authorization"].split()[1] not in page.content()
