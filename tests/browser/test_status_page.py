"""The shopper's status page (/pay/<id>) and payhub.js in a real browser."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.livehub import LiveHub

from .conftest import PHONE, send_callback, status_polls

pytestmark = pytest.mark.browser

PAYMENT = "#payment"


def status_of(page: Any) -> str:
    return page.get_attribute(PAYMENT, "data-status")


def open_status_page(new_page: Any, payment: dict[str, Any], **options: Any) -> Any:
    page = new_page(viewport=PHONE, **options)
    page.goto(payment["status_url"])
    assert page.get_by_role("heading", name="Waiting for confirmation").is_visible()
    return page


def test_a_signed_callback_updates_the_open_page_within_a_second(hub, new_page):
    payment = hub.create(amount=24950)
    page = open_status_page(new_page, payment)
    page.wait_for_selector("#connection[data-mode=live]")
    assert page.locator("#amount").inner_text() == "₹249.50"
    assert page.locator("#return-link").count() == 0  # the merchant gave no return_url

    sent = time.monotonic()
    assert send_callback(hub, payment, "success").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]', timeout=1000)
    assert time.monotonic() - sent < 1
    assert page.get_by_role("heading", name="Payment received").is_visible()
    assert not page.get_by_role("heading", name="Waiting for confirmation").is_visible()
    assert page.locator("#connection").is_hidden()


def test_with_the_socket_blocked_the_page_still_reaches_the_final_status_by_polling(hub, new_page):
    payment = hub.create()
    page = new_page(viewport=PHONE)
    # No Socket.IO at all: neither its HTTP long-polling transport nor a WebSocket.
    page.context.route("**/socket.io/**", lambda route: route.abort())
    page.context.route_web_socket("**/socket.io/**", lambda ws: ws.close())
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if r.url.endswith(f"/{payment['id']}/status") else None)
    page.goto(payment["status_url"])
    page.wait_for_selector("#connection[data-mode=polling]", timeout=6000)
    assert page.locator("#connection-text").inner_text().startswith("Live connection unavailable")

    assert send_callback(hub, payment, "failure").status_code == 200
    page.wait_for_selector(f'{PAYMENT}[data-status="failed"]', timeout=8000)
    assert page.get_by_role("heading", name="Payment failed").is_visible()
    assert 200 in polls  # it was the polling that brought the news
    assert all(status in (200, 304) for status in polls)


def test_leaving_while_pending_asks_first_and_not_once_final(hub, new_page):
    payment = hub.create()
    page = open_status_page(new_page, payment)
    asked: list[str] = []

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # "stay on this page"

    page.on("dialog", on_dialog)
    assert page.locator("#leave-warning").is_visible()
    page.locator("h1:visible").click()  # browsers only ask after the user has interacted with the page
    page.evaluate("location.href = '/'")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    assert "/pay/" in page.url  # stayed

    send_callback(hub, payment, "success")
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]')
    assert page.locator("#leave-warning").is_hidden()
    with page.expect_navigation():
        page.evaluate("location.href = '/'")
    assert asked == ["beforeunload"] and page.url == f"{hub.url}/"


def test_going_back_while_pending_warns_once_then_lets_the_shopper_go(hub, new_page):
    payment = hub.create()
    page = new_page(viewport=PHONE)
    page.goto(f"{hub.url}/")
    page.goto(payment["status_url"])
    page.locator("h1:visible").click()
    page.evaluate("history.back()")
    page.wait_for_selector("#leave-warning[role=alert]:has-text('Press Back again')")
    assert "/pay/" in page.url
    page.evaluate("history.back()")
    page.wait_for_url(f"{hub.url}/")
    assert page.get_by_role("heading", name="Demo shop").is_visible()


def test_stale_or_repeated_events_are_ignored(hub, new_page):
    payment = hub.create()
    page = open_status_page(new_page, payment)
    # The version gate on its own.
    seen = page.evaluate("""() => {
        const seen = [];
        const offer = PayHub.newerOnly(view => seen.push(view.version));
        [2, 1, 2, 3, 3, 0, 5, 4].forEach(version => offer({version}));
        offer(null); offer({status: "failed"});
        return seen;
    }""")
    assert seen == [2, 3, 5]

    # And on the live page: a message older than what the page shows changes nothing.
    page.wait_for_selector("#connection[data-mode=live]")
    deliver = """view => window.payhubWatcher.socket.listeners("payment_status").forEach(f => f(view))"""
    stale = {"id": payment["id"], "status": "failed", "final": True, "version": 1, "amount": 1000,
             "currency": "INR", "amount_received": None}
    page.evaluate(deliver, stale)
    assert status_of(page) == "pending" and page.get_by_role("heading", name="Waiting for confirmation").is_visible()

    send_callback(hub, payment, "success")
    page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]')
    page.evaluate(deliver, {**stale, "version": 2})
    page.evaluate(deliver, {**stale, "id": "pay_someone_else", "version": 99})
    assert status_of(page) == "succeeded" and page.get_attribute(PAYMENT, "data-version") == "2"


def test_amounts_are_formatted_exactly_from_minor_units(hub, new_page):
    page = open_status_page(new_page, hub.create())
    formatted = page.evaluate("""() => [
        PayHub.formatAmount(24950, "INR", "en-IN"), PayHub.formatAmount(5, "USD", "en-US"),
        PayHub.formatAmount(500, "JPY", "en-US"), PayHub.formatAmount(1234, "KWD", "en-US"),
        PayHub.formatAmount(9007199254740, "INR", "en-IN")]""")
    assert formatted == ["₹249.50", "$0.05", "¥500", "KWD\xa01.234", "₹90,07,19,92,547.40"]


def test_check_status_asks_the_gateway_and_a_bad_link_shows_no_payment(hub, new_page):
    payment = hub.create()
    page = open_status_page(new_page, payment)
    page.get_by_role("button", name="Check status").click()
    page.wait_for_selector("#check-result:has-text('still waiting')")
    page.get_by_role("button", name="Check status").click()
    page.wait_for_selector("#check-result:has-text('try again in a few seconds')")

    stranger = new_page(viewport=PHONE)
    response = stranger.goto(payment["status_url"].split("?")[0] + "?token=forged")
    assert response.status == 403
    assert payment["order_id"] not in stranger.content()


def test_after_the_server_comes_back_the_page_subscribes_again(tmp_path, new_page):
    hub = LiveHub(tmp_path / "restarting").start()
    try:
        payment = hub.create()
        page = open_status_page(new_page, payment)
        page.wait_for_selector("#connection[data-mode=live]")
        hub.kill()
        # A few seconds without the socket: the page says so (and tries polling meanwhile).
        page.wait_for_selector("#connection[data-mode=offline], #connection[data-mode=polling]", timeout=15_000)
        hub.start()
        # Socket.IO retries at most 5 s apart (payhub.js reconnectionDelayMax), then subscribes again.
        page.wait_for_selector("#connection[data-mode=live]", timeout=30_000)
        polls = status_polls(page, payment)
        assert send_callback(hub, payment, "success").status_code == 200
        page.wait_for_selector(f'{PAYMENT}[data-status="succeeded"]', timeout=15_000)
        # Pushed on the new subscription, not polled: the page made no status request since.
        assert polls == []
    finally:
        hub.stop()
