"""Hypothesis against every route a visitor without a key can reach: random methods, paths,
query strings, headers and bodies. Never a 5xx, never a new row (CONTRACT §9)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from payhub.extensions import socketio
from tests.conftest import Api
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET
from tests.gateways.helpers import any_json, fuzzing

from .conftest import row_counts

# Every route a visitor can reach, with the methods it answers (the fuzz mostly uses those).
ROUTES = {
    "/": ["GET"], "/shop/orders": ["POST"], "/pay/{id}": ["GET"], "/return/{gateway}": ["GET", "POST"],
    "/webhooks/{gateway}": ["POST"], "/api/payments/{id}/status": ["GET"], "/api/payments/{id}/refresh": ["POST"],
    "/api/payments/{id}": ["GET"], "/api/payments": ["GET", "POST"], "/api/payments/{id}/cancel": ["POST"],
    "/dashboard": ["GET"], "/dashboard/signin": ["POST"], "/dashboard/signout": ["POST"],
    "/dashboard/data/payments": ["GET"], "/dashboard/data/payments/{id}": ["GET"],
    "/sandbox/checkout/{txn}": ["GET", "POST"], "/sandbox/status/{txn}": ["GET"], "/healthz": ["GET"],
    "/readyz": ["GET"], "/metrics": ["GET"], "/vendor/{name}": ["GET"], "/static/{name}": ["GET"],
    "/socket.io/": ["GET", "POST"],
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
GATEWAYS = ["sandbox", "razorpay", "paytm", "payatom", "stripe", "nope"]
HEADER_NAMES = ["Content-Type", "X-Payhub-Token", "If-None-Match", "Origin", "X-Forwarded-For", "Authorization",
                "X-Payhub-Signature", "X-Razorpay-Signature", "Stripe-Signature", "X-CSRFToken", "Cookie",
                "Transfer-Encoding", "Accept"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "text/plain", "application/json; charset=latin-1", ""]
# Header values: printable latin-1 without line breaks (what an HTTP client can send at all).
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=60)
nasty = st.sampled_from(["²", "\u0661", "order-1\n", "\r\nX-Forged: 1", "%00", "'; DROP TABLE payments;--",
                         "<script>alert(1)</script>", "../../etc/passwd", "9" * 30, "-1", "{}", "[]"])
value = st.one_of(st.text(max_size=40), nasty, st.integers(-5, 40).map(str))


@pytest.fixture
def world(make_app):
    """One app with every browser-reachable gateway on, limits off (the fuzz is about crashes and
    writes, not about 429s), and a real payment whose id and token the fuzz may use."""
    app = make_app(PAYHUB_RATE_LIMITS="0", PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                   PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL="http://127.0.0.1:9",
                   PAYHUB_PAYTM_MID="MID", PAYHUB_PAYTM_MERCHANT_KEY="k" * 16, PAYHUB_PAYTM_BASE_URL="http://127.0.0.1:9",
                   PAYHUB_PAYATOM_PID="pid", PAYHUB_PAYATOM_SECRET_KEY="s" * 16,
                   PAYHUB_PAYATOM_BASE_URL="http://127.0.0.1:9", PAYHUB_GATEWAY_TIMEOUT="0.2",
                   PAYHUB_REFRESH_INTERVAL="3600")
    payment = Api(app.test_client()).create()
    # A refresh by its own token would poll the sandbox (an answer, not a write); take the one
    # refresh it allows now so that the fuzz's ones are all refused.
    app.test_client().post(f"/api/payments/{payment['id']}/refresh",
                           headers={"X-Payhub-Token": payment["subscribe_token"]})
    return app, payment, row_counts(app)


@st.composite
def requests_(draw, route: str, payment: dict) -> dict:
    def mostly(*real: str) -> str:  # real values most of the time, anything now and then
        return draw(st.sampled_from(real * 3) | value)

    fill = {"id": mostly(payment["id"], "pay_nothere"), "gateway": mostly(*GATEWAYS),
            "txn": mostly(payment["gateway_order_id"], "sbx_nothere"), "name": mostly("socket.io.min.js", "payhub.js")}
    path = route.format(**{k: quote(v, safe="") for k, v in fill.items()})
    method = draw(st.sampled_from(ROUTES[route] * 4 + METHODS))
    headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), header_text | nasty.filter(lambda v: "\n" not in v),
                                   max_size=4))
    if draw(st.booleans()):
        headers["X-Payhub-Token"] = payment["subscribe_token"]
    kind = draw(st.sampled_from(["none", "json", "form", "bytes", "gateway_form", "gateway_form"]))
    body: bytes | None = None
    if kind == "json":
        body = json.dumps(draw(any_json(text=30, keys=15, width=4, leaves=12, nan=False))).encode()
    elif kind == "form":
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in draw(st.dictionaries(value, value, max_size=5)).items()
                        ).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "gateway_form":  # shaped like a gateway's browser return, signed or not
        fields = {"error[metadata]": json.dumps({"order_id": draw(value), "payment_id": draw(value)}),
                  "error[description]": draw(value), "razorpay_order_id": draw(value),
                  "ORDERID": draw(value), "STATUS": draw(value), "CHECKSUMHASH": draw(value)}
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=len(fields)))
        body = "&".join(f"{quote(k)}={quote(fields[k])}" for k in chosen).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers.pop("Transfer-Encoding", None)  # the test client frames bodies itself
    query = draw(st.dictionaries(st.sampled_from(["wait", "wait", "limit", "token", "cursor", "status", "gateway",
                                                  "order_id", "EIO", "transport", "sid"]) | value, value,
                                 max_size=4))
    return {"method": method, "path": path, "headers": headers, "data": body,
            "query_string": query}


@pytest.mark.parametrize("route", list(ROUTES))
def test_no_unauthenticated_request_errors_or_writes(world, route):
    app, payment, before = world
    client = app.test_client()

    @fuzzing(100, HealthCheck.too_slow, HealthCheck.data_too_large)
    @given(st.data())
    def check(data):
        request = data.draw(requests_(route, payment))
        answer = client.open(request["path"], method=request["method"], headers=request["headers"],
                             data=request["data"], query_string=request["query_string"])
        assert answer.status_code < 500, (request, answer.status_code, answer.get_data(as_text=True)[:300])
        assert row_counts(app) == before, request

    check()


def test_no_socket_io_message_errors_or_writes(world):
    app, payment, before = world
    sio = socketio.test_client(app)

    @fuzzing(200)
    @given(event=st.sampled_from(["subscribe", "unsubscribe", "operators_join", "nothing"]),
           payload=any_json(text=30, keys=15, width=4, leaves=12, nan=False)
           | st.fixed_dictionaries({"payment_id": st.sampled_from([payment["id"]]) | value, "token": value}))
    def check(event, payload):
        ack = sio.emit(event, payload, callback=True)
        assert ack is None or ack.get("ok") in (True, False)
        if event == "subscribe" and ack is not None and ack["ok"]:
            pytest.fail(f"subscribed without the payment's token: {payload!r}")
        assert sio.is_connected()
        assert row_counts(app) == before

    check()


@pytest.mark.parametrize("gateway", ["razorpay", "paytm", "payatom", "sandbox"])
def test_no_unverifiable_browser_return_writes_or_hands_out_a_token(world, gateway):
    """Returns shaped like each gateway's (Razorpay's unsigned failure return included), with
    random or real order ids: nothing is written and no subscribe token comes back."""
    app, payment, before = world
    client = app.test_client()
    order_ids = st.sampled_from([payment["gateway_order_id"], "order_nothere"]) | value

    @fuzzing(60)
    @given(order_id=order_ids, extra=st.dictionaries(value, value, max_size=3), method=st.sampled_from(["GET", "POST"]),
           signed=st.sampled_from([None, "0" * 64, "bad"]))
    def check(order_id, extra, method, signed):
        fields = {"error[code]": "BAD_REQUEST_ERROR", "error[metadata]": json.dumps({"order_id": order_id}),
                  "razorpay_order_id": order_id, "razorpay_payment_id": "pay_x", "ORDERID": order_id,
                  "STATUS": "TXN_FAILURE", **extra}
        if signed is not None:
            fields |= {"razorpay_signature": signed, "CHECKSUMHASH": signed}
        answer = client.open(f"/return/{gateway}", method=method,
                             **({"query_string": fields} if method == "GET" else {"data": fields}))
        assert answer.status_code < 500
        assert "token=" not in answer.headers.get("Location", "") and "token=" not in answer.get_data(as_text=True)
        assert row_counts(app) == before

    check()
