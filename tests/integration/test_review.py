"""needs_review (CONTRACT.md §2) and the operator's resolve (§3, §7), through the app.

A short payment goes to review and only proof of the full amount, or an operator's decision,
takes it out again.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ON_BOTH_DATABASES, csrf_token, sign_in, sign_sandbox

pytestmark = ON_BOTH_DATABASES


def short_paid(api, sandbox_callback, amount=900):
    """A 1000 payment for which the sandbox reported only `amount` received: needs_review."""
    created = api.create(amount=1000)
    assert sandbox_callback(created, "success", amount=amount).status_code == 200
    payment = api.payment(created["id"])
    assert payment["status"] == "needs_review" and payment["amount_received"] == amount
    assert payment["events"][-1]["reason"] == "amount_mismatch"
    return created


def post_success_without_amount(client, payment):
    """A signed sandbox success callback that says nothing about the amount."""
    body = json.dumps({"transaction_id": payment["gateway_order_id"], "status": "success",
                       "event_id": "evt_no_amount"}).encode()
    return client.post("/webhooks/sandbox", data=body, content_type="application/json",
                       headers={"X-Payhub-Signature": sign_sandbox(body)})


def test_a_success_without_the_amount_does_not_heal_a_short_payment(api, client, sandbox_callback, socket_client):
    created = short_paid(api, sandbox_callback)
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    answer = post_success_without_amount(client, created)
    assert answer.status_code == 200 and answer.get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert payment["status"] == "needs_review" and payment["amount_received"] == 900 and payment["version"] == 2
    last = payment["events"][-1]
    assert last["applied"] is False and last["reason"] == "amount_unconfirmed" and last["kind"] == "success"
    assert [m for m in sio.get_received() if m["name"] == "payment_status"] == []


def test_the_same_short_amount_again_changes_nothing(api, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    assert sandbox_callback(created, "success", amount=900).get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert payment["status"] == "needs_review" and payment["version"] == 2


def test_proof_of_the_full_amount_takes_it_out_of_review(api, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    assert sandbox_callback(created, "success", amount=1000).get_json()["result"] == "applied"
    payment = api.payment(created["id"])
    assert payment["status"] == "succeeded" and payment["amount_received"] == 1000 and payment["version"] == 3


@pytest.mark.parametrize("decision", ["succeeded", "refund_pending"])
def test_resolve_applies_the_operators_decision_through_the_door(api, sandbox_callback, socket_client, decision):
    created = short_paid(api, sandbox_callback)
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    note = "Customer paid the rest by bank transfer, ref 42"
    response = api.post(f"/api/payments/{created['id']}/resolve", json={"status": decision, "note": note})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == decision and body["version"] == 3 and body["id"] == created["id"]
    assert body["amount_received"] == 900  # a decision does not invent money
    pushed = [m["args"][0] for m in sio.get_received() if m["name"] == "payment_status"]
    assert [(p["status"], p["version"]) for p in pushed] == [(decision, 3)]
    event = api.payment(created["id"])["events"][-1]
    assert event["source"] == "operator" and event["kind"] == "resolve" and event["applied"] is True
    assert (event["status_before"], event["status_after"]) == ("needs_review", decision)
    assert event["payload"]["note"] == note and event["payload"]["via"] == "api"


@pytest.mark.parametrize("outcome", [None, "success", "failure"])
def test_resolve_is_409_unless_under_review(api, sandbox_callback, outcome):
    created = api.create()
    if outcome:
        sandbox_callback(created, outcome)
    before = api.payment(created["id"])
    response = api.post(f"/api/payments/{created['id']}/resolve", json={"status": "succeeded", "note": "sure"})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "not_under_review" and error["payment_status"] == before["status"]
    after = api.payment(created["id"])
    assert after["status"] == before["status"] and after["version"] == before["version"]
    assert after["events"][-1]["source"] == "operator" and after["events"][-1]["applied"] is False


def test_a_second_resolve_is_409(api, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    first = api.post(f"/api/payments/{created['id']}/resolve", json={"status": "refund_pending", "note": "refund it"})
    again = api.post(f"/api/payments/{created['id']}/resolve", json={"status": "succeeded", "note": "no, keep it"})
    assert first.status_code == 200 and again.status_code == 409
    assert api.payment(created["id"])["status"] == "refund_pending"


@pytest.mark.parametrize(("body", "field"), [
    ([], "body"), ("succeeded", "body"),
    ({"note": "why"}, "status"), ({"status": "failed", "note": "why"}, "status"),
    ({"status": "pending", "note": "why"}, "status"), ({"status": ["succeeded"], "note": "why"}, "status"),
    ({"status": "succeeded"}, "note"), ({"status": "succeeded", "note": "  "}, "note"),
    ({"status": "succeeded", "note": 5}, "note"), ({"status": "succeeded", "note": "x" * 1001}, "note"),
    ({"status": "succeeded", "note": "why", "amount": 1000}, "amount"),
])
def test_bad_resolve_bodies_are_clear_400s_and_change_nothing(api, sandbox_callback, body, field):
    created = short_paid(api, sandbox_callback)
    response = api.post(f"/api/payments/{created['id']}/resolve", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and error["field"] == field and error["message"]
    payment = api.payment(created["id"])
    assert payment["status"] == "needs_review" and len(payment["events"]) == 1


def test_resolve_needs_json(api, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    form = api.post(f"/api/payments/{created['id']}/resolve", data={"status": "succeeded", "note": "x"})
    assert form.status_code == 415
    broken = api.post(f"/api/payments/{created['id']}/resolve", data="{", content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_json"


def test_resolve_needs_the_api_key_not_the_shoppers_token(api, client, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    body = {"status": "succeeded", "note": "let me in"}
    for headers in ({}, {"X-Payhub-Token": created["subscribe_token"]}, {"Authorization": "Bearer wrong"}):
        response = client.post(f"/api/payments/{created['id']}/resolve", json=body, headers=headers)
        assert response.status_code == 401
    assert api.payment(created["id"])["status"] == "needs_review"
    assert len(api.payment(created["id"])["events"]) == 1  # nothing unauthenticated is kept


def test_resolve_of_an_unknown_payment_is_404(api):
    response = api.post("/api/payments/pay_nope/resolve", json={"status": "succeeded", "note": "x"})
    assert response.status_code == 404


def test_dashboard_resolve_goes_through_the_same_function(app, api, sandbox_callback):
    created = short_paid(api, sandbox_callback)
    operator = app.test_client()
    url = f"/dashboard/payments/{created['id']}/resolve"
    # The page sends its CSRF token as X-CSRFToken (static/dashboard.js).
    page = {"X-CSRFToken": csrf_token(operator)}
    assert operator.post(url, json={"status": "succeeded", "note": "x"}, headers=page).status_code == 401
    assert sign_in(operator).status_code == 303  # not signed in until here
    page = {"X-CSRFToken": csrf_token(operator)}
    assert operator.post(url, json={"status": "succeeded", "note": "x"}).status_code == 400  # no CSRF token
    assert operator.post(url, data={"status": "succeeded", "note": "x"}, headers=page).status_code == 415  # a form
    bad = operator.post(url, json={"status": "failed", "note": "x"}, headers=page)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "status"
    done = operator.post(url, json={"status": "succeeded", "note": "Checked the bank statement"}, headers=page)
    assert done.status_code == 200 and done.get_json()["status"] == "succeeded"
    event = api.payment(created["id"])["events"][-1]
    assert event["source"] == "operator" and event["payload"]["via"] == "dashboard"
    assert operator.post(url, json={"status": "succeeded", "note": "again"}, headers=page).status_code == 409
