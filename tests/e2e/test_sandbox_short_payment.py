"""End to end: the sandbox remembers what the shopper actually paid (issue 7 item 2).

`python app.py` as a real process: the shopper pays 900 of a 1,000 order on the sandbox's
checkout page, the sandbox's signed callback puts the payment under review, and a refresh
(which asks the sandbox's status API over HTTP) must not make it look paid in full.
"""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.e2e


def wait_for_status(hub, payment_id, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        payment = hub.payment(payment_id)
        if payment["status"] == status or time.monotonic() > deadline:
            return payment
        time.sleep(0.1)


def test_a_refresh_of_a_short_sandbox_payment_keeps_it_under_review(live_hub):
    hub = live_hub(PAYHUB_SCHEDULER="0")
    created = hub.create(amount=1000, currency="INR")
    txn = created["gateway_order_id"]
    paid = requests.post(f"{hub.url}/sandbox/checkout/{txn}", data={"action": "pay", "amount": "900", "delay": "0"},
                         allow_redirects=False, timeout=10)
    assert paid.status_code == 303
    payment = wait_for_status(hub, created["id"], "needs_review")
    assert payment["status"] == "needs_review" and payment["amount_received"] == 900

    ledger = requests.get(f"{hub.url}/sandbox/status/{txn}", timeout=10).json()
    assert ledger["status"] == "success" and ledger["amount"] == 900 and ledger["amount_requested"] == 1000

    refreshed = requests.post(f"{hub.url}/api/payments/{created['id']}/refresh", headers=hub.headers, timeout=10)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["status"] == "needs_review" and refreshed.json()["amount_received"] == 900
    payment = hub.payment(created["id"])
    assert payment["status"] == "needs_review" and payment["version"] == 2
    poll = payment["events"][-1]
    assert poll["source"] == "poll" and poll["applied"] is False and poll["amount_received"] == 900


def test_an_unpaid_sandbox_transaction_reports_no_amount(live_hub):
    hub = live_hub(PAYHUB_SCHEDULER="0")
    created = hub.create(amount=1000, currency="INR")
    ledger = requests.get(f"{hub.url}/sandbox/status/{created['gateway_order_id']}", timeout=10).json()
    assert ledger["status"] == "processing" and ledger["amount"] is None
