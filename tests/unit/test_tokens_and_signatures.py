from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from payhub import tokens
from payhub.gateways.base import BadCallback, InvalidSignature, RawRequest, redact
from payhub.sandbox.adapter import SandboxGateway


def tamper(token: str) -> str:
    """Change one character in the middle of the signature (the last base64 character may
    carry only padding bits, so changing it can leave the bytes the same)."""
    i = len(token) - 10
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def test_token_opens_its_own_payment_only():
    token = tokens.issue("k", "pay_1")
    assert tokens.verify("k", token, "pay_1", 60)
    assert not tokens.verify("k", token, "pay_2", 60)
    assert not tokens.verify("other-key", token, "pay_1", 60)
    assert not tokens.verify("k", tamper(token), "pay_1", 60)
    assert not tokens.verify("k", None, "pay_1", 60) and not tokens.verify("k", 123, "pay_1", 60)


def test_token_expires(monkeypatch):
    token = tokens.issue("k", "pay_1")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 120)
    assert not tokens.verify("k", token, "pay_1", 60)


def gateway() -> SandboxGateway:
    return SandboxGateway(webhook_secret="s3cret", base_url="http://127.0.0.1:9", public_url="http://x",
                          open_session=lambda p, u: "sbx_1")


def raw(body: bytes, signature: str | None) -> RawRequest:
    headers = {"X-Payhub-Signature": signature} if signature is not None else {}
    return RawRequest(body=body, headers=headers)


def test_sandbox_signature_checked_on_the_raw_bytes():
    body = b'{"transaction_id": "sbx_1", "status": "success", "amount": 1000, "event_id": "e1"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    update = gateway().parse_webhook(raw(body, good))
    assert (update.status, update.gateway_order_id, update.amount_received, update.gateway_event_id) == (
        "succeeded", "sbx_1", 1000, "e1")
    # The same JSON re-serialised is different bytes, so its signature does not match.
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()
    with pytest.raises(InvalidSignature):
        gateway().parse_webhook(raw(reserialised, good))
    for bad in (None, "", good.upper(), good[:-1], "sha1=" + good[7:]):
        with pytest.raises(InvalidSignature):
            gateway().parse_webhook(raw(body, bad))


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"status": "success"}',
                                  b'{"transaction_id": 5, "status": "success"}',
                                  b'{"transaction_id": "t", "status": "success", "amount": 10.5}',
                                  b'{"transaction_id": "t", "status": "success", "amount": true}',
                                  b'{"transaction_id": "t", "status": null}'])
def test_authentic_but_malformed_sandbox_callbacks_are_bad(body):
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    with pytest.raises(BadCallback):
        gateway().parse_webhook(raw(body, signature))


@pytest.mark.parametrize(("status", "expected"), [("success", "succeeded"), ("failure", "failed"),
                                                  ("processing", "pending"), ("whatever", "pending")])
def test_sandbox_status_mapping(status, expected):
    body = json.dumps({"transaction_id": "t", "status": status, "amount": 5}).encode()
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert gateway().parse_webhook(raw(body, signature)).status == expected


def test_redact_removes_secrets_and_card_data_at_any_depth():
    payload = {"a": 1, "card": {"number": "4111"}, "nested": [{"client_secret": "pi_secret", "ok": "x"}],
               "CHECKSUMHASH": "abc"}
    assert redact(payload) == {"a": 1, "card": "[redacted]", "nested": [{"client_secret": "[redacted]", "ok": "x"}],
                               "CHECKSUMHASH": "[redacted]"}
