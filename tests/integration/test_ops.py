"""Operator endpoints and the CLI (CONTRACT.md §7)."""

from __future__ import annotations


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "queue": "off"}


def test_readiness_fails_when_the_queue_is_unreachable(make_app):
    app = make_app(PAYHUB_MESSAGE_QUEUE="redis://127.0.0.1:1/0")
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["queue"] == "error"


def test_metrics_count_payments_and_updates(api, client, sandbox_callback):
    created = api.create()
    sandbox_callback(created, "success")
    sandbox_callback(created, "success", event_id="evt_dup_a")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'payhub_payments{status="succeeded"} 1.0' in text
    assert 'payhub_updates_total{result="applied",source="webhook"}' in text
    assert "payhub_pushes_total" in text


def test_cli_simulate_refuses_unknown_payments(app):
    result = app.test_cli_runner().invoke(args=["payhub", "simulate", "pay_nope", "success"])
    assert result.exit_code != 0 and "no sandbox payment" in result.output
