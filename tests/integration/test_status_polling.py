"""The polling fallback (CONTRACT.md §4): token, ETag/304, long poll, CORS."""

from __future__ import annotations

import threading
import time

from tests.conftest import API_KEY


def status(client, created, token=None, **headers):
    return client.get(f"/api/payments/{created['id']}/status",
                      headers={"X-Payhub-Token": token or created["subscribe_token"], **headers})


def test_public_view_with_etag_then_304(api, client, sandbox_callback):
    created = api.create()
    first = status(client, created)
    assert first.status_code == 200 and first.get_json()["status"] == "pending"
    assert "customer" not in first.get_json() and "gateway_order_id" not in first.get_json()
    etag = first.headers["ETag"]
    assert status(client, created, **{"If-None-Match": etag}).status_code == 304
    sandbox_callback(created, "success")
    changed = status(client, created, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["version"] == 2 and changed.headers["ETag"] != etag


def test_token_in_query_works_and_wrong_tokens_get_nothing(api, client):
    one, other = api.create(), api.create()
    assert client.get(f"/api/payments/{one['id']}/status?token={one['subscribe_token']}").status_code == 200
    for token in (other["subscribe_token"], "garbage", one["subscribe_token"] + "x"):
        response = status(client, one, token=token)
        assert response.status_code == 401 and "status" not in response.get_json()
    assert client.get(f"/api/payments/{one['id']}/status").status_code == 401
    # The API key is not a subscribe token.
    assert client.get(f"/api/payments/{one['id']}/status", headers={"X-Payhub-Token": API_KEY}).status_code == 401


def test_long_poll_returns_when_the_version_changes(app, api, client, sandbox_callback):
    created = api.create()
    etag = status(client, created).headers["ETag"]
    timer = threading.Timer(0.6, lambda: sandbox_callback(created, "success"))
    timer.start()
    started = time.monotonic()
    response = client.get(f"/api/payments/{created['id']}/status?wait=10",
                          headers={"X-Payhub-Token": created["subscribe_token"], "If-None-Match": etag})
    elapsed = time.monotonic() - started
    timer.join()
    assert response.status_code == 200 and response.get_json()["status"] == "succeeded"
    assert 0.5 < elapsed < 3


def test_long_poll_times_out_with_304(api, client):
    created = api.create()
    etag = status(client, created).headers["ETag"]
    started = time.monotonic()
    response = client.get(f"/api/payments/{created['id']}/status?wait=1",
                          headers={"X-Payhub-Token": created["subscribe_token"], "If-None-Match": etag})
    assert response.status_code == 304 and 0.9 < time.monotonic() - started < 3
    assert status(client, created, **{"If-None-Match": etag}).status_code == 304
    bad = client.get(f"/api/payments/{created['id']}/status?wait=31",
                     headers={"X-Payhub-Token": created["subscribe_token"]})
    assert bad.status_code == 400


def test_cors_same_origin_only_by_default(api, client):
    created = api.create()
    response = status(client, created, Origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_allowed_origins_are_echoed(make_app):
    app = make_app(PAYHUB_CORS_ORIGINS="https://shop.example, https://m.shop.example")
    client = app.test_client()
    created = client.post("/api/payments", json={"order_id": "c1", "amount": 100, "currency": "INR",
                                                 "gateway": "sandbox"},
                          headers={"Authorization": f"Bearer {API_KEY}"}).get_json()
    ok = status(client, created, Origin="https://m.shop.example")
    assert ok.headers["Access-Control-Allow-Origin"] == "https://m.shop.example"
    assert "ETag" in ok.headers["Access-Control-Expose-Headers"]
    preflight = client.options(f"/api/payments/{created['id']}/status",
                               headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET",
                                        "Access-Control-Request-Headers": "X-Payhub-Token"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "X-Payhub-Token" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in status(client, created, Origin="https://evil.example").headers
