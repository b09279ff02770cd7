"""Headers, /metrics, file modes, bodies, logs (issue 8 items 6 and 7), through the app."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from .conftest import row_counts


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- pages' headers ----------------------------------------------------------------------------
def test_pages_send_a_content_security_policy_that_forbids_framing(api, client):
    created = api.create()
    pages = ["/", f"/pay/{created['id']}?token={created['subscribe_token']}", "/dashboard",
             f"/sandbox/checkout/{created['gateway_order_id']}"]
    for path in pages:
        answer = client.get(path)
        assert answer.mimetype == "text/html", path
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_every_response_is_nosniff_and_payhub_js_stays_embeddable(api, client):
    created = api.create()
    status = client.get(f"/api/payments/{created['id']}/status?token={created['subscribe_token']}")
    script = client.get("/static/payhub.js")
    for answer in (status, script, client.get("/healthz")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # A merchant's page on another origin loads payhub.js with a <script> tag: no page policy
    # rides on the script itself, and its type is right for nosniff.
    assert "Content-Security-Policy" not in script.headers and script.mimetype == "text/javascript"


# -- /metrics ----------------------------------------------------------------------------------
def test_metrics_are_open_by_default_and_need_the_token_when_one_is_set(make_app):
    assert make_app().test_client().get("/metrics").status_code == 200
    guarded = make_app(PAYHUB_METRICS_TOKEN="m3trics").test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = guarded.get("/metrics", headers={"Authorization": "Bearer m3trics"})
    assert answer.status_code == 200 and b"payhub_payments" in answer.data


# -- files -------------------------------------------------------------------------------------
def test_the_sqlite_database_and_its_wal_are_owner_only(make_app, tmp_path, api):
    api.create()  # the WAL and shared-memory files exist once something was written
    for name in ("payhub.db", "payhub.db-wal", "payhub.db-shm"):
        assert (tmp_path / name).exists(), name
        assert mode(tmp_path / name) == 0o600, name


def test_files_an_earlier_release_left_readable_are_tightened_at_start(make_app, tmp_path):
    make_app()
    for name in ("payhub.db", "payhub.db-wal", "payhub.db-shm"):
        if (tmp_path / name).exists():
            os.chmod(tmp_path / name, 0o644)
    make_app()
    assert mode(tmp_path / "payhub.db") == 0o600


# -- bodies ------------------------------------------------------------------------------------
def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [65, 1000, 10_000, 30_000])
def test_json_nested_too_deep_is_a_400_never_a_500(api, depth):
    before = row_counts(api.client.application)
    answer = api.post("/api/payments", data=b'{"order_id": ' + nested(depth) + b"}",
                      content_type="application/json")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_json"
    assert row_counts(api.client.application) == before


def test_reasonable_nesting_is_still_read(api):
    answer = api.post("/api/payments", data=b'{"order_id": "n-1", "amount": 1, "currency": "INR", '
                                            b'"gateway": "sandbox", "metadata": {"a": "b"}}',
                      content_type="application/json")
    assert answer.status_code == 201


# -- logs --------------------------------------------------------------------------------------
def test_log_messages_escape_control_characters(caplog):
    from payhub import logsafe

    logsafe.install()
    with caplog.at_level(logging.WARNING, logger="payhub.test"):
        logging.getLogger("payhub.test").warning("unknown order %s", "o-1\n2030-01-01 ERROR forged\r\x1b[31m")
    [record] = caplog.records
    assert record.getMessage() == "unknown order o-1\\n2030-01-01 ERROR forged\\r\\x1b[31m"
    assert "\n" not in caplog.text.rstrip("\n")


def test_escape_leaves_ordinary_text_alone():
    from payhub.logsafe import escape

    assert escape("payment pay_1 for ₹249.50 — ok") == "payment pay_1 for ₹249.50 — ok"
    assert escape("a\u2028b\tc") == "a\\u2028b\\tc"
