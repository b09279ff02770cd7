"""Real answers of the app match the schemas the OpenAPI document gives them, including the
ones schemathesis cannot reach on its own (a browser's subscribe token, a needs_review payment)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from payhub.openapi import build

DOC = build("http://127.0.0.1:5000")


def check(body: Any, path: str, method: str, status: int) -> None:
    """Validate `body` against the schema documented for that answer."""
    answer = DOC["paths"][path][method]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": DOC["components"]})
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_merchant_api_answers_match_their_schemas(api, sandbox_callback):
    created = api.create(customer={"name": "Asha", "email": "asha@example.com"}, metadata={"cart": "7"})
    check(created, "/api/payments", "post", 201)
    sandbox_callback(created, "success", amount=created["amount"] - 1)  # short: needs_review
    payment = api.get(f"/api/payments/{created['id']}")
    check(payment.get_json(), "/api/payments/{payment_id}", "get", 200)
    assert payment.get_json()["status"] == "needs_review"
    check(api.get("/api/payments?limit=1").get_json(), "/api/payments", "get", 200)
    resolved = api.post(f"/api/payments/{created['id']}/resolve", json={"status": "succeeded", "note": "ok"})
    check(resolved.get_json(), "/api/payments/{payment_id}/resolve", "post", 200)
    again = api.post(f"/api/payments/{created['id']}/resolve", json={"status": "succeeded", "note": "ok"})
    check(again.get_json(), "/api/payments/{payment_id}/resolve", "post", 409)
    refused = api.post(f"/api/payments/{created['id']}/cancel")
    check(refused.get_json(), "/api/payments/{payment_id}/cancel", "post", 409)
    other = api.create()
    check(api.post(f"/api/payments/{other['id']}/cancel").get_json(), "/api/payments/{payment_id}/cancel", "post",
          200)


def test_browser_answers_match_their_schemas(api, client):
    created = api.create()
    token = {"X-Payhub-Token": created["subscribe_token"]}
    status = client.get(f"/api/payments/{created['id']}/status", headers=token)
    check(status.get_json(), "/api/payments/{payment_id}/status", "get", 200)
    assert status.headers["ETag"]
    unchanged = client.get(f"/api/payments/{created['id']}/status",
                           headers={**token, "If-None-Match": status.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == status.headers["ETag"]
    refreshed = client.post(f"/api/payments/{created['id']}/refresh", headers=token)  # no sandbox server here
    check(refreshed.get_json(), "/api/payments/{payment_id}/refresh", "post", refreshed.status_code)
    with_key = client.get(f"/api/payments/{created['id']}/status", headers=api.headers)
    check(with_key.get_json(), "/api/payments/{payment_id}/status", "get", 401)


@pytest.mark.parametrize(("path", "status"), [("/healthz", 200), ("/readyz", 200)])
def test_ops_answers_match_their_schemas(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    check(response.get_json(), path, "get", status)


def test_callback_and_error_answers_match_their_schemas(api, client, sandbox_callback):
    created = api.create()
    check(sandbox_callback(created, "success").get_json(), "/webhooks/sandbox", "post", 200)
    bad = client.post("/webhooks/sandbox", data=b"{}", content_type="application/json")
    check(bad.get_json(), "/webhooks/sandbox", "post", 400)
    invalid = api.post("/api/payments", json={"order_id": "x", "amount": 1.5, "currency": "INR", "gateway": "sandbox"})
    check(invalid.get_json(), "/api/payments", "post", 400)
    assert invalid.get_json()["error"]["field"] == "amount"
