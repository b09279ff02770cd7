"""Per-address limits on every unauthenticated entry point (CONTRACT §9): 429 with Retry-After,
configurable, off for nobody by accident; signed webhooks and the merchant API never limited."""

from __future__ import annotations

import pytest

from payhub.extensions import socketio
from tests.conftest import API_KEY, csrf_token, sign_sandbox

SLOW = "3/minute"  # small enough to reach in a test, the same for every entry point below


def limited(**extra: str) -> dict[str, str]:
    names = ("SHOP", "RETURNS", "SIGNIN", "STATUS", "SOCKET", "SUBSCRIBE")
    return {f"PAYHUB_LIMIT_{n}": SLOW for n in names} | extra


def assert_429(response) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_demo_shop_answers_429_with_retry_after_past_its_limit(make_app):
    client = make_app(**limited()).test_client()
    for _ in range(3):
        assert client.post("/shop/orders", data={"item": "chai"}).status_code == 303
    refused = client.post("/shop/orders", data={"item": "chai"})
    assert_429(refused)
    assert "Too many requests" in refused.get_data(as_text=True)  # a page, for a browser


def test_browser_returns_are_limited_per_address(make_app):
    client = make_app(**limited(PAYHUB_RAZORPAY_KEY_ID="rzp_test_x", PAYHUB_RAZORPAY_KEY_SECRET="s",
                                PAYHUB_RAZORPAY_WEBHOOK_SECRET="w")).test_client()
    for _ in range(3):
        assert client.post("/return/razorpay", data={"razorpay_signature": "x"}).status_code == 400
    assert_429(client.post("/return/razorpay", data={"razorpay_signature": "x"}))
    # Another address is counted on its own.
    other = client.post("/return/razorpay", data={"razorpay_signature": "x"},
                        environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other.status_code == 400


def test_sign_in_is_limited(make_app):
    client = make_app(**limited()).test_client()
    token = csrf_token(client)
    for _ in range(3):
        assert client.post("/dashboard/signin", data={"api_key": "guess", "csrf_token": token}).status_code == 401
    assert_429(client.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": token}))


def test_status_polls_are_limited_and_json_says_so(make_app):
    app = make_app(**limited())
    client = app.test_client()
    created = client.post("/api/payments", headers={"Authorization": f"Bearer {API_KEY}"},
                          json={"order_id": "lim-1", "amount": 100, "currency": "INR", "gateway": "sandbox"}).get_json()
    url = f"/api/payments/{created['id']}/status?token={created['subscribe_token']}"
    for _ in range(3):
        assert client.get(url).status_code == 200
    refused = client.get(url)
    assert_429(refused)
    assert refused.get_json()["error"]["code"] == "rate_limited"


def test_socket_connects_and_subscribes_are_limited(make_app):
    app = make_app(**limited(PAYHUB_LIMIT_SOCKET="2/minute"))
    api = app.test_client()
    created = api.post("/api/payments", headers={"Authorization": f"Bearer {API_KEY}"},
                       json={"order_id": "lim-2", "amount": 100, "currency": "INR", "gateway": "sandbox"}).get_json()
    first, second = socketio.test_client(app), socketio.test_client(app)
    assert first.is_connected() and second.is_connected()
    assert not socketio.test_client(app).is_connected()  # the third connect from this address

    subscribe = {"payment_id": created["id"], "token": created["subscribe_token"]}
    answers = [first.emit("subscribe", subscribe, callback=True) for _ in range(4)]
    assert [a["ok"] for a in answers] == [True, True, True, False]
    assert answers[-1]["error"] == "rate_limited"


def test_signed_webhooks_and_the_merchant_api_are_never_limited_per_address(make_app):
    client = make_app(**limited()).test_client()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for i in range(8):  # well past 3/minute
        made = client.post("/api/payments", headers=headers,
                           json={"order_id": f"api-{i}", "amount": 100, "currency": "INR", "gateway": "sandbox"})
        assert made.status_code == 201
        payment = made.get_json()
        body = (f'{{"transaction_id": "{payment["gateway_order_id"]}", "status": "success", "amount": 100, '
                f'"event_id": "evt_{i}"}}').encode()
        answer = client.post("/webhooks/sandbox", data=body, content_type="application/json",
                             headers={"X-Payhub-Signature": sign_sandbox(body)})
        assert answer.status_code == 200
        assert client.get(f"/api/payments/{payment['id']}", headers=headers).status_code == 200


def test_limits_can_be_switched_off_for_load_tests(make_app):
    client = make_app(**limited(PAYHUB_RATE_LIMITS="0")).test_client()
    assert all(client.post("/shop/orders", data={"item": "chai"}).status_code == 303 for _ in range(6))


def test_the_defaults_leave_a_real_shopper_alone(make_app):
    """A page polling every 5 s (12/min) and a handful of orders never meet the defaults."""
    client = make_app().test_client()
    assert all(client.post("/shop/orders", data={"item": "chai"}).status_code == 303 for _ in range(5))


@pytest.mark.parametrize("value", ["often", "10 per fortnight", ""])
def test_a_limit_it_cannot_read_refuses_to_start(make_app, value):
    with pytest.raises(ValueError, match="PAYHUB_LIMIT_SHOP"):
        make_app(PAYHUB_LIMIT_SHOP=value)


def test_x_forwarded_for_counts_only_behind_trusted_proxies(make_app):
    spoofing = make_app(**limited()).test_client()
    for i in range(3):
        spoofing.post("/shop/orders", data={"item": "chai"}, headers={"X-Forwarded-For": f"10.0.0.{i}"})
    # Nobody said a proxy is in front: the header is the client's own, and changes nothing.
    assert_429(spoofing.post("/shop/orders", data={"item": "chai"}, headers={"X-Forwarded-For": "10.0.0.99"}))

    proxied = make_app(**limited(PAYHUB_TRUSTED_PROXIES="1")).test_client()
    for _ in range(3):
        proxied.post("/shop/orders", data={"item": "chai"}, headers={"X-Forwarded-For": "203.0.113.5"})
    assert_429(proxied.post("/shop/orders", data={"item": "chai"}, headers={"X-Forwarded-For": "203.0.113.5"}))
    # The proxy names another shopper: counted apart, although every request came from the proxy.
    assert proxied.post("/shop/orders", data={"item": "chai"},
                        headers={"X-Forwarded-For": "203.0.113.6"}).status_code == 303
