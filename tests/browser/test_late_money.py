"""Late money on the shopper's page (CONTRACT.md §4, issue 7 item 7): a page keeps listening
while its payment is failed or expired, and shows a late success live, without a reload."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.livehub import LiveHub

from .conftest import PHONE, send_callback

pytestmark = pytest.mark.browser

PAYMENT = "#payment"


@pytest.fixture(scope="module")
def expiring_hub(tmp_path_factory):
    """A hub whose sweep expires a payment a couple of seconds after it was made."""
    live = LiveHub(tmp_path_factory.mktemp("expiring-hub"), PAYHUB_POLL_AFTER="1", PAYHUB_EXPIRE_AFTER="2",
                   PAYHUB_SWEEP_INTERVAL="1").start()
    yield live
    live.stop()


def wait_for(hub: LiveHub, payment: dict[str, Any], status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (current := hub.payment(payment["id"]))["status"] != status:
        assert time.monotonic() < deadline, f"still {current['status']}, never {status}"
        time.sleep(0.2)
    return current


def test_a_failed_payment_that_succeeds_late_shows_it_live(hub, new_page):
    payment = hub.create()
    page = new_page(viewport=PHONE)
    page.goto(payment["status_url"])
    page.wait_for_selector("#connection[data-mode=live]")
    assert send_callback(hub, payment, "failure").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="failed"]')
    assert page.get_by_role("heading", name="Payment failed").is_visible()
    # Still listening: the live indicator stays, the watcher has not stopped.
    assert page.locator("#connection").is_visible() and page.evaluate("payhubWatcher.mode") == "live"

    assert send_callback(hub, payment, "success").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]')
    assert page.get_by_role("heading", name="Payment received").is_visible()
    assert not page.get_by_role("heading", name="Payment failed").is_visible()
    assert page.locator("#connection").is_hidden() and page.evaluate("payhubWatcher.mode") == "stopped"


def test_an_expired_payment_that_succeeds_late_shows_it_live(expiring_hub, new_page):
    payment = expiring_hub.create()
    page = new_page(viewport=PHONE)
    page.goto(payment["status_url"])
    # The sweep polls the sandbox (still processing) and expires the payment: pushed to the page.
    page.wait_for_selector(f'{PAYMENT}[data-status="expired"]', timeout=30_000)
    assert page.get_by_role("heading", name="Payment expired").is_visible()
    assert page.locator("#connection").is_visible()

    assert send_callback(expiring_hub, payment, "success").status_code == 200  # the money came after all
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]')
    assert page.get_by_role("heading", name="Payment received").is_visible()
    assert expiring_hub.payment(payment["id"])["status"] == "succeeded"


def test_an_expired_page_opened_later_still_waits_for_late_money(expiring_hub, new_page):
    payment = expiring_hub.create()
    wait_for(expiring_hub, payment, "expired")
    page = new_page(viewport=PHONE)
    page.goto(payment["status_url"])  # the page starts out on an already expired payment
    assert page.get_by_role("heading", name="Payment expired").is_visible()
    page.wait_for_selector("#connection[data-mode=live]")
    assert send_callback(expiring_hub, payment, "success").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]')


def test_with_the_socket_blocked_polling_carries_on_after_failed(hub, new_page):
    payment = hub.create()
    assert send_callback(hub, payment, "failure").status_code == 200
    page = new_page(viewport=PHONE)
    page.context.route("**/socket.io/**", lambda route: route.abort())
    page.context.route_web_socket("**/socket.io/**", lambda ws: ws.close())
    page.goto(payment["status_url"])
    page.wait_for_selector("#connection[data-mode=polling]", timeout=8000)
    assert page.get_by_role("heading", name="Payment failed").is_visible()
    assert send_callback(hub, payment, "success").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]', timeout=15_000)  # the next 5 s poll
    assert page.evaluate("payhubWatcher.mode") == "stopped"
