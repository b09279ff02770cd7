"""The pages' server side, without a browser: guards, errors and hand-offs (fast, no Chromium)."""

from __future__ import annotations

from types import SimpleNamespace

from payhub.extensions import socketio
from payhub.web import pages
from tests.conftest import API_KEY, csrf_token, sign_in


def test_the_vendored_socket_client_is_served_or_explained(client, monkeypatch, tmp_path):
    served = client.get("/vendor/socket.io.min.js")
    assert served.status_code == 200 and served.mimetype == "text/javascript"
    assert b"Socket.IO v4" in served.data
    assert client.get("/vendor/other.js").status_code == 404
    monkeypatch.setattr(pages, "VENDOR_DIR", tmp_path / "nothing-here")
    missing = client.get("/vendor/socket.io.min.js")
    assert missing.status_code == 503 and "npm ci" in missing.get_data(as_text=True)


def test_shop_rejects_unknown_items_and_creates_sandbox_payments_server_side(client, api):
    assert client.post("/shop/orders", data={"item": "yacht", "gateway": "sandbox"}).status_code == 400
    assert client.post("/shop/orders", data={"item": "chai", "gateway": "stripe"}).status_code == 400
    bought = client.post("/shop/orders", data={"item": "chai", "gateway": "sandbox"})
    assert bought.status_code == 303 and "/sandbox/checkout/sbx_" in bought.headers["Location"]
    [payment] = api.get("/api/payments").get_json()["data"]
    assert (payment["amount"], payment["currency"], payment["status"]) == (4900, "INR", "pending")
    assert payment["return_url"] == "http://127.0.0.1:5000/"


def test_status_page_needs_the_token_and_keeps_it_out_of_referers(client, api):
    payment = api.create()
    page = client.get(f"/pay/{payment['id']}?token={payment['subscribe_token']}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert 'data-status="pending"' in page.get_data(as_text=True)
    assert client.get(f"/pay/{payment['id']}").status_code == 403
    other = api.create()
    assert client.get(f"/pay/{payment['id']}?token={other['subscribe_token']}").status_code == 403


def test_hand_off_for_form_and_widget_gateways(app):
    form = {"action_url": "https://gw.example/pay?mid=M", "method": "POST", "fields": {"txnToken": 'a"b<c'}}
    widget = {"key": "rzp_test_1", "order_id": "order_1", "amount": 1000}
    with app.test_request_context("/shop/orders"):
        for checkout, expected in ((form, 'value="a&#34;b&lt;c"'), (widget, "checkout.razorpay.com"),
                                   ({"client_secret": "pi_1_secret"}, "Stripe.js")):
            payment = SimpleNamespace(id="pay_x", gateway="x", amount=1000, currency="INR", checkout=checkout)
            html = pages.hand_off(payment)
            assert expected in html and "/pay/pay_x?token=" in html


def test_dashboard_data_and_live_feed_need_the_operator(app, client, api, sandbox_callback):
    payment = api.create()
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard/data/payments").status_code == 401
    assert client.get(f"/dashboard/data/payments/{payment['id']}").status_code == 401
    stranger = socketio.test_client(app, flask_test_client=client)
    assert stranger.emit("operators_join", {}, callback=True) == {"ok": False, "error": "unauthorized"}

    assert sign_in(client, API_KEY + "x").status_code == 401
    assert sign_in(client).status_code == 303
    assert payment["id"] in client.get("/dashboard").get_data(as_text=True)
    operator = socketio.test_client(app, flask_test_client=client)
    assert operator.emit("operators_join", {}, callback=True) == {"ok": True}
    sandbox_callback(payment, "success")
    pushed = [m["args"][0] for m in operator.get_received() if m["name"] == "payment_status"]
    assert [(v["id"], v["status"]) for v in pushed] == [(payment["id"], "succeeded")]
    assert stranger.get_received() == []

    detail = client.get(f"/dashboard/data/payments/{payment['id']}").get_json()
    assert [(e["source"], e["applied"]) for e in detail["events"]] == [("webhook", True)]
    client.post("/dashboard/signout", data={"csrf_token": csrf_token(client)})
    assert client.get("/dashboard/data/payments").status_code == 401


def test_dashboard_session_ends_when_the_api_key_changes(make_app, tmp_path):
    first = make_app().test_client()
    sign_in(first)
    cookie = first.get_cookie("session")
    rotated = make_app(PAYHUB_API_KEY="a-new-key").test_client()
    rotated.set_cookie("session", cookie.value)
    assert rotated.get("/dashboard/data/payments").status_code == 401
