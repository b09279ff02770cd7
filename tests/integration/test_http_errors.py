"""HTTP-level errors keep the one JSON error shape without losing what HTTP requires of them."""

from __future__ import annotations


def test_wrong_method_is_a_json_405_with_the_allow_header(api):
    response = api.client.delete("/api/payments", headers=api.headers)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_wrong_method_on_a_webhook_lists_post(client):
    response = client.put("/webhooks/sandbox", data=b"{}", content_type="application/json")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.mimetype == "application/json"
