"""Gateway callbacks through the one door (CONTRACT.md §2 and §5), with the sandbox gateway."""

from __future__ import annotations

import json

from tests.conftest import sandbox_body, sign_sandbox


def post(client, body, signature, **headers):
    return client.post("/webhooks/sandbox", data=body, content_type="application/json",
                       headers={"X-Payhub-Signature": signature, **headers})


def test_bad_or_missing_signature_changes_nothing(api, client, socket_client):
    created = api.create()
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    body = sandbox_body(created["gateway_order_id"], "success")
    for signature in ("", "sha256=00", sign_sandbox(body, "wrong-secret"), sign_sandbox(body + b" ")):
        response = post(client, body, signature)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_signature"
    payment = api.payment(created["id"])
    assert payment["status"] == "pending" and payment["version"] == 1 and payment["events"] == []
    assert sio.get_received() == []


def test_authentic_but_malformed_callback_is_400(api, client):
    created = api.create()
    for body in (b"{", b"[1]", json.dumps({"transaction_id": created["gateway_order_id"]}).encode(),
                 json.dumps({"transaction_id": created["gateway_order_id"], "status": "success",
                             "amount": "1000"}).encode()):
        assert post(client, body, sign_sandbox(body)).status_code == 400
    assert api.payment(created["id"])["events"] == []


def test_unknown_payment_is_stored_and_answered_non_2xx_so_the_gateway_retries(client, app):
    body = sandbox_body("sbx_unknown", "success")
    response = post(client, body, sign_sandbox(body))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_payment"
    from payhub.extensions import db
    from payhub.models import PaymentEvent

    with app.app_context():
        events = db.session.query(PaymentEvent).all()
        assert [(e.payment_id, e.gateway_order_id, e.reason) for e in events] == [
            (None, "sbx_unknown", "unknown_payment")]


def test_same_content_without_event_id_is_a_duplicate(api, client):
    created = api.create()
    body = json.dumps({"transaction_id": created["gateway_order_id"], "status": "failure", "amount": 1000}).encode()
    assert post(client, body, sign_sandbox(body)).get_json()["result"] == "applied"
    assert post(client, body, sign_sandbox(body)).get_json()["result"] == "duplicate"
    assert api.payment(created["id"])["version"] == 2


def test_illegal_transition_is_recorded_answered_2xx_and_not_applied(api, sandbox_callback):
    created = api.create()
    sandbox_callback(created, "success")
    response = sandbox_callback(created, "failure")
    assert response.status_code == 200 and response.get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert payment["status"] == "succeeded" and payment["version"] == 2
    assert payment["events"][-1]["reason"] == "illegal_transition" and payment["events"][-1]["applied"] is False


def test_late_success_after_failure_is_not_lost(api, sandbox_callback):
    created = api.create()
    sandbox_callback(created, "failure")
    sandbox_callback(created, "success")
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"], payment["amount_received"]) == ("succeeded", 3, 1000)


def test_amount_mismatch_goes_to_review(api, sandbox_callback, socket_client):
    created = api.create(amount=1000)
    sio = socket_client()
    sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
    sandbox_callback(created, "success", amount=900)
    payment = api.payment(created["id"])
    assert payment["status"] == "needs_review" and payment["amount_received"] == 900 and payment["final"] is True
    assert payment["events"][0]["reason"] == "amount_mismatch" and payment["events"][0]["applied"] is True
    assert [m["args"][0]["status"] for m in sio.get_received()] == ["needs_review"]


def test_processing_callback_changes_nothing(api, sandbox_callback):
    created = api.create()
    assert sandbox_callback(created, "processing").status_code == 200
    payment = api.payment(created["id"])
    assert payment["status"] == "pending" and payment["version"] == 1
    assert payment["events"][0]["reason"] == "no_change"


def test_body_over_64_kib_is_413_and_changes_nothing(api, client):
    created = api.create()
    body = b'{"pad": "' + b"x" * 70_000 + b'"}'
    response = post(client, body, sign_sandbox(body))
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    assert api.payment(created["id"])["events"] == []


def test_event_log_never_holds_the_signature(api, sandbox_callback, app):
    created = api.create()
    sandbox_callback(created, "success")
    text = json.dumps(api.payment(created["id"]))
    assert "sha256=" not in text and "test-sandbox-webhook-secret" not in text
