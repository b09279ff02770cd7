"""The operators' dashboard in a real browser: sign-in, live payments, counts, event log,
and nothing at all without the key."""

from __future__ import annotations

import pytest

from tests.livehub import API_KEY

from .conftest import DESKTOP, screenshot, send_callback

pytestmark = pytest.mark.browser


def sign_in(page, hub, key: str = API_KEY) -> None:
    page.goto(f"{hub.url}/dashboard")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def row(page, payment):
    return page.locator(f'#payments tr[data-id="{payment["id"]}"]')


def count(page, status: str) -> int:
    return int(page.locator(f'[data-count="{status}"] strong').inner_text())


def test_dashboard_shows_a_new_payment_and_its_status_change_live(hub, new_page):
    # Some history first, so the list and its counts have something to show.
    send_callback(hub, hub.create(amount=4900), "failure")
    send_callback(hub, hub.create(amount=24950), "success", amount=20000)  # paid less: needs_review
    hub.create(amount=4900)
    page = new_page(viewport=DESKTOP)
    sign_in(page, hub)
    page.wait_for_selector("#live[data-mode=live]")
    succeeded_before = count(page, "succeeded")

    payment = hub.create(amount=199900)
    row(page, payment).wait_for(timeout=2000)  # pushed: payment_created to the operators room
    assert row(page, payment).get_attribute("data-status") == "pending"
    assert "₹1,999.00" in row(page, payment).inner_text()

    send_callback(hub, payment, "success")
    page.wait_for_selector(f'#payments tr[data-id="{payment["id"]}"][data-status="succeeded"]', timeout=1500)
    # Locators, not wait_for_function: the page's Content-Security-Policy forbids eval.
    from playwright.sync_api import expect

    expect(page.locator("[data-count=succeeded] strong")).to_have_text(str(succeeded_before + 1), timeout=3000)

    # A late failure after the success is kept in the audit trail, not applied, and says why.
    send_callback(hub, payment, "failure")
    row(page, payment).get_by_role("button", name="Events").click()
    log = page.locator("#events-body tr")
    log.nth(1).wait_for()
    assert "webhook" in log.nth(0).inner_text() and log.nth(0).get_attribute("data-applied") == "true"
    assert log.nth(1).get_attribute("data-applied") == "false"
    assert "illegal_transition" in log.nth(1).inner_text()
    assert page.locator("#events-panel").is_visible()
    screenshot(page, "dashboard")

    # Filters: by status (server-side), kept in the address bar.
    page.get_by_label("Status", exact=True).select_option("pending")
    row(page, payment).wait_for(state="detached")
    assert "status=pending" in page.url


def test_without_the_key_the_dashboard_shows_no_payment_data(hub, new_page):
    payment = hub.create()
    page = new_page()
    response = page.goto(f"{hub.url}/dashboard")
    assert response.status == 401
    assert page.get_by_role("heading", name="Operator dashboard").is_visible()
    assert payment["id"] not in page.content() and payment["order_id"] not in page.content()

    data = page.evaluate("fetch('/dashboard/data/payments').then(r => r.status)")
    assert data == 401

    # Nor over Socket.IO: the operators' room refuses this browser, so no change arrives.
    page.add_script_tag(url=f"{hub.url}/vendor/socket.io.min.js")
    ack = page.evaluate("""() => new Promise(resolve => {
        window.heard = [];
        const socket = io();
        socket.on("payment_status", view => window.heard.push(view));
        socket.on("payment_created", note => window.heard.push(note));
        socket.on("connect", () => socket.emit("operators_join", {}, resolve));
    })""")
    assert ack == {"ok": False, "error": "unauthorized"}
    send_callback(hub, payment, "success")
    hub.create()
    page.wait_for_timeout(700)
    assert page.evaluate("window.heard") == []

    sign_in(page, hub, key="not-the-key")
    assert page.get_by_role("alert").inner_text() == "That key is not right."
    assert payment["id"] not in page.content()


def test_a_bearer_key_opens_the_dashboard_without_signing_in(hub, new_page):
    payment = hub.create()
    page = new_page(extra_http_headers={"Authorization": f"Bearer {API_KEY}"})
    response = page.goto(f"{hub.url}/dashboard")
    assert response.status == 200
    assert row(page, payment).is_visible()


def test_signing_out_hides_everything_again(hub, new_page):
    payment = hub.create()
    page = new_page()
    sign_in(page, hub)
    assert row(page, payment).is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Operator dashboard").wait_for()
    assert payment["id"] not in page.content()
