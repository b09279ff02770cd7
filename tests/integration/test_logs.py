"""PAYHUB_LOG_FORMAT=json: one JSON object per line, with the request id (echoed as X-Request-Id)
and the payment id where known."""

from __future__ import annotations

import io
import json
import logging

import pytest

from payhub import logs
from tests.conftest import Api


@pytest.fixture
def json_log():
    """Capture what the `payhub` loggers write, formatted as PAYHUB_LOG_FORMAT=json would."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("payhub")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_every_response_carries_a_request_id_and_a_sane_given_one_is_kept(client):
    made = client.get("/healthz").headers["X-Request-Id"]
    assert len(made) == 16 and made != client.get("/healthz").headers["X-Request-Id"]
    assert client.get("/healthz", headers={"X-Request-Id": "lb-7f3a.1"}).headers["X-Request-Id"] == "lb-7f3a.1"
    odd = client.get("/healthz", headers={"X-Request-Id": "x" * 65}).headers["X-Request-Id"]
    assert odd != "x" * 65 and len(odd) == 16
    assert client.get("/no/such/page").headers["X-Request-Id"]


def test_a_log_line_in_a_request_names_the_request_and_the_payment(make_app, json_log):
    def noisy(payment_id: str):
        logging.getLogger("payhub.test").warning("something about this payment")
        return "ok"

    app = make_app()
    app.add_url_rule("/api/payments/<payment_id>/noisy", "noisy", noisy)
    api = Api(app.test_client())
    payment = api.create()
    response = api.client.get(f"/api/payments/{payment['id']}/noisy", headers={"X-Request-Id": "req-123"})
    assert response.headers["X-Request-Id"] == "req-123"
    (line,) = [entry for entry in json_log() if entry["logger"] == "payhub.test"]
    assert line["request_id"] == "req-123"
    assert line["payment_id"] == payment["id"]
    assert line["level"] == "WARNING" and line["message"] == "something about this payment"
    assert line["time"].endswith("Z")


def test_a_rejected_callback_is_logged_with_its_request_id(client, json_log):
    response = client.post("/webhooks/sandbox", data=b'{"transaction_id": "x", "status": "success"}',
                           content_type="application/json", headers={"X-Payhub-Signature": "sha256=00"})
    assert response.status_code == 400
    (line,) = [entry for entry in json_log() if "webhook rejected" in entry["message"]]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert "payment_id" not in line  # not known: nothing is made up


def test_outside_a_request_the_payment_id_comes_from_the_message_or_extra(json_log):
    log = logging.getLogger("payhub.test")
    log.warning("poll of pay_AbCdEfGh1234 failed")
    log.warning("merchant webhook msg_1 failed", extra={"payment_id": "pay_fromextra99"})
    log.warning("nothing to say")
    first, second, third = json_log()
    assert first["payment_id"] == "pay_AbCdEfGh1234" and "request_id" not in first
    assert second["payment_id"] == "pay_fromextra99"
    assert "payment_id" not in third


def test_an_exception_is_one_line_with_its_traceback(json_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("payhub.test").exception("it failed")
    (line,) = json_log()
    assert "Traceback" in line["exception"] and "RuntimeError: boom" in line["exception"]


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="PAYHUB_LOG_FORMAT"):
        logs.configure("INFO", "xml")
