"""The merchant API (CONTRACT.md §3): auth, validation, idempotency, reads, listing, cancel."""

from __future__ import annotations

import json

import pytest

from tests.conftest import API_KEY

GOOD = {"order_id": "ord-1", "amount": 1000, "currency": "INR", "gateway": "sandbox"}


def payments_in_db(api):
    return api.get("/api/payments?limit=100").get_json()["data"]


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    if field is not None:
        assert error["field"] == field


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
                                     {"Authorization": "Basic " + API_KEY}, {"Authorization": "Bearer "}])
def test_every_route_needs_the_api_key(client, headers):
    for method, path in (("post", "/api/payments"), ("get", "/api/payments"), ("get", "/api/payments/pay_x"),
                         ("post", "/api/payments/pay_x/cancel"), ("post", "/api/payments/pay_x/refresh")):
        response = getattr(client, method)(path, headers=headers, json=GOOD)
        assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": 10.5}, "amount"), ({"amount": "1000"}, "amount"), ({"amount": -5}, "amount"),
    ({"amount": 0}, "amount"), ({"amount": True}, "amount"), ({"amount": 10**20}, "amount"),
    ({"currency": "XYZ"}, "currency"), ({"currency": 5}, "currency"), ({"gateway": "paypal"}, "gateway"),
    ({"order_id": ""}, "order_id"), ({"order_id": "a" * 65}, "order_id"), ({"order_id": "has space"}, "order_id"),
    ({"order_id": 12}, "order_id"), ({"surprise": 1}, "surprise"), ({"customer": "Asha"}, "customer"),
    ({"customer": {"email": "not-an-email"}}, "customer.email"), ({"customer": {"ssn": "1"}}, "customer.ssn"),
    ({"return_url": "javascript:alert(1)"}, "return_url"), ({"metadata": {"k": 5}}, "metadata.k"),
])
def test_bad_fields_are_400_with_the_field_and_store_nothing(api, change, field):
    response = api.post("/api/payments", json={**GOOD, **change})
    assert_error(response, 400, "invalid_request", field)
    assert payments_in_db(api) == []


@pytest.mark.parametrize("missing", ["order_id", "amount", "currency", "gateway"])
def test_missing_fields_are_400(api, missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    assert_error(api.post("/api/payments", json=body), 400, "invalid_request", missing)


def test_malformed_json_and_wrong_content_type(api):
    assert_error(api.post("/api/payments", data="{not json", content_type="application/json"), 400, "invalid_json")
    assert_error(api.post("/api/payments", data=json.dumps(GOOD), content_type="text/plain"),
                 415, "unsupported_media_type")
    assert_error(api.post("/api/payments", json=[GOOD]), 400, "invalid_request", "body")
    assert payments_in_db(api) == []


def test_body_over_64_kib_is_413(api):
    body = {**GOOD, "metadata": {"pad": "x" * 70_000}}
    assert_error(api.post("/api/payments", json=body), 413, "payload_too_large")


def test_known_currencies_with_minor_units(api):
    for i, currency in enumerate(["INR", "USD", "EUR", "GBP", "BDT", "PKR", "usd"]):
        response = api.post("/api/payments", json={**GOOD, "order_id": f"c{i}", "currency": currency})
        assert response.status_code == 201 and response.get_json()["currency"] == currency.upper()


def test_same_order_same_body_replays_and_different_body_conflicts(api):
    first = api.post("/api/payments", json=GOOD)
    again = api.post("/api/payments", json=GOOD)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["checkout"] == first.get_json()["checkout"]
    assert_error(api.post("/api/payments", json={**GOOD, "amount": 2000}), 409, "order_conflict", "order_id")
    assert len(payments_in_db(api)) == 1


def test_disabled_gateway_is_400(make_app):
    app = make_app(PAYHUB_SANDBOX="0")
    response = app.test_client().post("/api/payments", json=GOOD, headers={"Authorization": f"Bearer {API_KEY}"})
    assert_error(response, 400, "gateway_disabled", "gateway")
    assert app.test_client().post("/webhooks/sandbox", data=b"{}").status_code == 404


def test_read_has_events_oldest_first_and_no_secrets(api, sandbox_callback):
    created = api.create(customer={"name": "Asha", "email": "asha@example.com", "phone": "+91 98765 43210"})
    sandbox_callback(created, "failure")
    sandbox_callback(created, "success")
    payment = api.payment(created["id"])
    assert payment["status"] == "succeeded" and payment["version"] == 3
    assert [(e["source"], e["status"], e["applied"]) for e in payment["events"]] == [
        ("webhook", "failed", True), ("webhook", "succeeded", True)]
    assert payment["customer"]["email"] == "asha@example.com"
    assert "request_fingerprint" not in payment and "subscribe_token" not in payment


def test_unknown_payment_is_404(api):
    assert_error(api.get("/api/payments/pay_nope"), 404, "not_found")
    assert_error(api.post("/api/payments/pay_nope/cancel"), 404, "not_found")


def test_listing_newest_first_with_filters_and_cursor(api, sandbox_callback):
    made = [api.create(order_id=f"list-{i}") for i in range(5)]
    sandbox_callback(made[1], "success")
    page1 = api.get("/api/payments?limit=2").get_json()
    page2 = api.get(f"/api/payments?limit=2&cursor={page1['next_cursor']}").get_json()
    page3 = api.get(f"/api/payments?limit=2&cursor={page2['next_cursor']}").get_json()
    ids = [p["id"] for p in page1["data"] + page2["data"] + page3["data"]]
    assert ids == [p["id"] for p in reversed(made)] and page3["next_cursor"] is None
    succeeded = api.get("/api/payments?status=succeeded").get_json()["data"]
    assert [p["id"] for p in succeeded] == [made[1]["id"]]
    assert api.get("/api/payments?order_id=list-3").get_json()["data"][0]["id"] == made[3]["id"]
    assert api.get("/api/payments?gateway=sandbox&limit=100").get_json()["data"].__len__() == 5
    assert_error(api.get("/api/payments?status=bogus"), 400, "invalid_request", "status")
    assert_error(api.get("/api/payments?limit=0"), 400, "invalid_request", "limit")
    assert_error(api.get("/api/payments?cursor=%%%"), 400, "invalid_request", "cursor")


def test_cancel_pending_then_not_again_after_success(api, socket_client, sandbox_callback):
    created = api.create()
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    response = api.post(f"/api/payments/{created['id']}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert [m["args"][0]["status"] for m in sio.get_received() if m["name"] == "payment_status"] == ["cancelled"]
    assert api.post(f"/api/payments/{created['id']}/cancel").status_code == 200  # idempotent
    # Money that arrives after a cancel is not lost.
    sandbox_callback(created, "success")
    assert api.payment(created["id"])["status"] == "succeeded"
    assert_error(api.post(f"/api/payments/{created['id']}/cancel"), 409, "not_cancellable")
