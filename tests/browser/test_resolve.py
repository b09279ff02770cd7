"""The dashboard's Resolve control (CONTRACT.md §7, §3 `resolve`) in a real browser: a signed-in
operator closes a needs_review payment on purpose, the shopper's open page follows live, and
the decision and its note are on the event log."""

from __future__ import annotations

import pytest

from .conftest import DESKTOP, PHONE, screenshot, send_callback
from .test_dashboard import row, sign_in

pytestmark = pytest.mark.browser


def under_review(hub, amount=10000, paid=9000):
    payment = hub.create(amount=amount)
    assert send_callback(hub, payment, "success", amount=paid).status_code == 200
    assert hub.payment(payment["id"])["status"] == "needs_review"
    return payment


def test_an_operator_resolves_a_short_payment_and_the_shoppers_page_follows(hub, new_page):
    payment = under_review(hub)
    shopper = new_page(viewport=PHONE)
    shopper.goto(payment["status_url"])
    assert shopper.get_by_role("heading", name="Payment under review").is_visible()
    shopper.wait_for_selector("#connection[data-mode=live]")

    page = new_page(viewport=DESKTOP)
    sign_in(page, hub)
    page.wait_for_selector("#live[data-mode=live]")
    settled = hub.create()  # a payment not under review has no Resolve button
    send_callback(hub, settled, "success")
    row(page, settled).wait_for()
    page.wait_for_selector(f'#payments tr[data-id="{settled["id"]}"][data-status="succeeded"]')
    assert row(page, settled).get_by_role("button", name="Resolve").count() == 0

    row(page, payment).get_by_role("button", name="Resolve").click()
    form = page.locator("#resolve-form")
    form.wait_for(state="visible")
    page.wait_for_function("document.activeElement && document.activeElement.value === 'succeeded'")
    page.get_by_label("Accept as paid (succeeded)").check()
    page.get_by_label("Note: why (kept on the log)").fill("Shopper paid the missing ₹10 in cash at pick-up")
    screenshot(page, "dashboard-resolve")
    page.locator("#resolve-submit").click()

    page.wait_for_selector("#resolve-result:text('Resolved: now succeeded.')")
    form.wait_for(state="hidden")  # no longer under review (hidden by the page script after the answer)
    page.wait_for_selector(f'#payments tr[data-id="{payment["id"]}"][data-status="succeeded"]')
    assert row(page, payment).get_by_role("button", name="Resolve").count() == 0
    last = page.locator("#events-body tr").last
    last.wait_for()
    assert "operator" in last.inner_text() and last.get_attribute("data-applied") == "true"
    assert "cash at pick-up" in last.locator("pre").text_content()

    shopper.wait_for_selector('#payment[data-status="succeeded"]')  # pushed, no reload
    assert shopper.get_by_role("heading", name="Payment received").is_visible()
    event = hub.payment(payment["id"])["events"][-1]
    assert (event["source"], event["kind"], event["payload"]["via"]) == ("operator", "resolve", "dashboard")


def open_resolve(page, hub, payment):
    sign_in(page, hub)
    page.wait_for_selector("#live:not([data-mode=connecting])")  # the page's script runs (socket up or not)
    row(page, payment).get_by_role("button", name="Resolve").click()
    page.locator("#resolve-form").wait_for(state="visible")


def test_resolve_needs_a_decision_and_a_note(hub, new_page):
    payment = under_review(hub)
    page = new_page(viewport=DESKTOP)
    open_resolve(page, hub, payment)
    page.locator("#resolve-submit").click()  # nothing chosen, no note: the browser's own checks stop it
    assert page.evaluate("document.querySelector('#resolve-form').checkValidity()") is False
    page.get_by_label("Accept as paid (succeeded)").check()
    page.get_by_label("Note: why (kept on the log)").fill("   ")  # blank: PayHub says why
    page.locator("#resolve-submit").click()
    page.wait_for_selector("#resolve-result.error")
    assert "note must say why" in page.locator("#resolve-result").inner_text()
    assert hub.payment(payment["id"])["status"] == "needs_review"


def test_the_control_goes_away_live_when_the_full_amount_arrives(hub, new_page):
    payment = under_review(hub)
    page = new_page(viewport=DESKTOP)
    open_resolve(page, hub, payment)
    page.wait_for_selector("#live[data-mode=live]")
    assert send_callback(hub, payment, "success", amount=10000).status_code == 200
    page.wait_for_selector("#resolve-form", state="hidden")
    page.wait_for_selector(f'#payments tr[data-id="{payment["id"]}"][data-status="succeeded"]')


def test_a_decision_on_a_payment_that_left_review_meanwhile_is_refused_with_the_reason(hub, new_page):
    payment = under_review(hub)
    page = new_page(viewport=DESKTOP)
    # No live feed, so the open form is not told that the payment left review.
    page.context.route("**/socket.io/**", lambda route: route.abort())
    page.context.route_web_socket("**/socket.io/**", lambda ws: ws.close())
    open_resolve(page, hub, payment)
    assert send_callback(hub, payment, "success", amount=10000).status_code == 200
    page.get_by_label("Send the money back (refund_pending)").check()
    page.get_by_label("Note: why (kept on the log)").fill("Refund: customer asked")
    page.locator("#resolve-submit").click()
    page.wait_for_selector("#resolve-result.error")
    assert "not under review" in page.locator("#resolve-result").inner_text()
    page.wait_for_selector("#resolve-form", state="hidden")  # the log is reloaded: it is succeeded now
    assert hub.payment(payment["id"])["status"] == "succeeded"
