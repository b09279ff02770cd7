"""Scale-out: two `python app.py` processes on PostgreSQL + Redis behave as one hub."""

from __future__ import annotations

import time

import pytest

from tests.e2e.test_live import Watcher, callback
from tests.e2e.test_security_live import Feed, sign_out, signed_in
from tests.livehub import LiveHub
from tests.scale.conftest import SERIAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, SERIAL]


def test_callback_on_one_process_reaches_a_subscriber_on_the_other(pg_url, redis_url, tmp_path):
    env = {"PAYHUB_DATABASE_URL": pg_url, "PAYHUB_MESSAGE_QUEUE": redis_url}
    first = LiveHub(tmp_path / "a", **env).start()
    second = LiveHub(tmp_path / "b", **env).start()
    try:
        payment = first.create()
        watcher = Watcher(first.url)
        assert watcher.subscribe(payment)["ok"]
        time.sleep(0.3)  # let the subscriber's room join settle before the push
        assert callback(second, payment, "success").status_code == 200
        assert watcher.next(timeout=5)["status"] == "succeeded"
        assert second.payment(payment["id"])["status"] == "succeeded"
        watcher.close()
        for hub in (first, second):
            import requests

            ready = requests.get(f"{hub.url}/readyz", timeout=5).json()
            assert ready["checks"] == {"database": "ok", "queue": "ok"}
    finally:
        first.stop()
        second.stop()


def test_a_sign_out_on_one_process_disconnects_the_dashboard_socket_on_the_other(pg_url, redis_url, tmp_path):
    env = {"PAYHUB_DATABASE_URL": pg_url, "PAYHUB_MESSAGE_QUEUE": redis_url}
    first = LiveHub(tmp_path / "a", **env).start()
    second = LiveHub(tmp_path / "b", **env).start()
    try:
        browser = signed_in(first)
        feed = Feed(first, browser)  # the page's socket lives on the first process
        time.sleep(0.3)  # let the room joins settle before the push
        created = second.create()
        assert feed.created(timeout=5) == created["id"]
        sign_out(browser, second)  # the sign-out is handled by the second
        assert feed.disconnected(), "the socket on the other process outlived the sign-out"
        second.create()
        first.create()
        assert feed.created(timeout=1) is None
    finally:
        first.stop()
        second.stop()
