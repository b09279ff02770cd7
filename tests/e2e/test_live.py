"""End to end: `python app.py` as a real process, driven with requests and a real Socket.IO
client over a websocket."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio

from tests.conftest import sandbox_body, sign_sandbox
from tests.livehub import ROOT, SANDBOX_SECRET

pytestmark = pytest.mark.e2e


class Watcher:
    """A browser stand-in: one websocket connection, payment_status events in a queue."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("payment_status", self.events.put)
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)

    def subscribe(self, payment: dict) -> dict:
        return self.sio.call("subscribe", {"payment_id": payment["id"], "token": payment["subscribe_token"]},
                             timeout=10)

    def next(self, timeout: float = 5) -> dict:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.sio.disconnect()


def callback(hub, payment, status, amount=None, event_id=None):
    body = sandbox_body(payment["gateway_order_id"], status, payment["amount"] if amount is None else amount,
                        event_id)
    return requests.post(f"{hub.url}/webhooks/sandbox", data=body, timeout=10,
                         headers={"Content-Type": "application/json",
                                  "X-Payhub-Signature": sign_sandbox(body, SANDBOX_SECRET)})


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent", "threading"])
def test_create_subscribe_callback_push(live_hub, async_mode):
    hub = live_hub(PAYHUB_ASYNC_MODE=async_mode)
    payment = hub.create(amount=4999, currency="USD")
    watcher = Watcher(hub.url)
    ack = watcher.subscribe(payment)
    assert ack["ok"] is True and ack["payment"]["status"] == "pending"
    sent = time.monotonic()
    assert callback(hub, payment, "success").status_code == 200
    view = watcher.next()
    assert time.monotonic() - sent < 1
    assert (view["id"], view["status"], view["version"], view["amount_received"]) == (payment["id"], "succeeded", 2,
                                                                                      4999)
    # The polling fallback agrees.
    polled = requests.get(f"{hub.url}/api/payments/{payment['id']}/status",
                          headers={"X-Payhub-Token": payment["subscribe_token"]}, timeout=5)
    assert polled.json() == view
    watcher.close()


def test_sandbox_checkout_pay_reaches_the_subscriber(live_hub):
    hub = live_hub()
    payment = hub.create()
    watcher = Watcher(hub.url)
    watcher.subscribe(payment)
    page = requests.get(payment["checkout"]["redirect_url"], timeout=5)
    assert page.status_code == 200 and "Pay" in page.text
    done = requests.post(payment["checkout"]["redirect_url"], data={"action": "pay", "delay": "0"}, timeout=5,
                         allow_redirects=False)
    assert done.status_code == 303 and f"/pay/{payment['id']}?token=" in done.headers["Location"]
    assert watcher.next()["status"] == "succeeded"
    watcher.close()


def test_scheduler_polls_a_stale_payment_the_gateway_settled_quietly(live_hub):
    hub = live_hub(PAYHUB_POLL_AFTER="1", PAYHUB_EXPIRE_AFTER="60", PAYHUB_SWEEP_INTERVAL="1")
    payment = hub.create()
    watcher = Watcher(hub.url)
    watcher.subscribe(payment)
    # Pay with a 30 s callback delay: the sandbox knows at once, PayHub only by polling it.
    requests.post(payment["checkout"]["redirect_url"], data={"action": "pay", "delay": "30"}, timeout=5,
                  allow_redirects=False)
    view = watcher.next(timeout=6)
    assert view["status"] == "succeeded"
    events = hub.payment(payment["id"])["events"]
    assert [e["source"] for e in events if e["applied"]] == ["poll"]
    watcher.close()


def test_scheduler_expires_an_abandoned_payment(live_hub):
    hub = live_hub(PAYHUB_POLL_AFTER="1", PAYHUB_EXPIRE_AFTER="2", PAYHUB_SWEEP_INTERVAL="1")
    payment = hub.create()
    watcher = Watcher(hub.url)
    watcher.subscribe(payment)
    requests.post(payment["checkout"]["redirect_url"], data={"action": "abandon"}, timeout=5, allow_redirects=False)
    view = watcher.next(timeout=8)
    assert view["status"] == "expired" and view["final"] is True
    sources = [e["source"] for e in hub.payment(payment["id"])["events"]]
    assert "poll" in sources and sources[-1] == "expiry"
    # Money that arrives after the expiry is not lost.
    assert callback(hub, payment, "success").status_code == 200
    assert watcher.next()["status"] == "succeeded"
    watcher.close()


def test_kill_9_mid_load_loses_nothing(live_hub, tmp_path):
    hub = live_hub(tmp_path / "hub")
    payments = [hub.create() for _ in range(120)]
    answered: dict[str, int] = {}

    def send(payment):
        try:
            answered[payment["id"]] = callback(hub, payment, "success", event_id=f"evt_{payment['id']}").status_code
        except requests.RequestException:
            answered[payment["id"]] = 0

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, p) for p in payments]
        while sum(1 for f in futures if f.done()) < 30:
            time.sleep(0.005)
        hub.kill()
    acknowledged = {pid for pid, code in answered.items() if code == 200}
    assert 30 <= len(acknowledged) < len(payments), "the kill should land mid-load"
    hub.start()
    for payment in payments:  # every acknowledged callback survived the kill
        if payment["id"] in acknowledged:
            assert hub.payment(payment["id"])["status"] == "succeeded"
    for payment in payments:  # the gateway retries what was not acknowledged
        if payment["id"] not in acknowledged:
            assert callback(hub, payment, "success", event_id=f"evt_{payment['id']}").status_code == 200
    for payment in payments:
        view = hub.payment(payment["id"])
        assert (view["status"], view["version"]) == ("succeeded", 2)
        applied = [e for e in view["events"] if e["applied"]]
        assert len(applied) == 1  # a status never without its event, never twice
    watcher = Watcher(hub.url)  # a browser that reconnects after the restart gets the truth
    assert watcher.subscribe(payments[0])["payment"]["status"] == "succeeded"
    watcher.close()


def test_cli_simulate_posts_a_signed_callback_to_the_running_hub(live_hub, tmp_path):
    hub = live_hub(tmp_path / "cli")
    payment = hub.create()
    watcher = Watcher(hub.url)
    watcher.subscribe(payment)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | hub.env
    env["PAYHUB_PUBLIC_URL"] = hub.url
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "payhub", "payhub", "simulate", payment["id"],
                             "failure"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "HTTP 200" in result.stdout
    assert watcher.next()["status"] == "failed"
    watcher.close()


def test_secrets_never_reach_the_log(live_hub, tmp_path):
    hub = live_hub(tmp_path / "secrets")
    payment = hub.create()
    body = sandbox_body(payment["gateway_order_id"], "success")
    requests.post(f"{hub.url}/webhooks/sandbox", data=body, timeout=5,
                  headers={"Content-Type": "application/json", "X-Payhub-Signature": "sha256=bad"})
    callback(hub, payment, "success")
    hub.stop()
    log = hub.log()
    for secret in (SANDBOX_SECRET, hub.env["PAYHUB_API_KEY"], hub.env["PAYHUB_SECRET_KEY"]):
        assert secret not in log
    assert json.dumps(hub.env["PAYHUB_API_KEY"]) not in log


def test_chunked_callbacks_are_read_and_limited_to_64_kib(live_hub):
    hub = live_hub()
    payment = hub.create()
    body = sandbox_body(payment["gateway_order_id"], "success")
    headers = {"Content-Type": "application/json", "X-Payhub-Signature": sign_sandbox(body, SANDBOX_SECRET)}
    # A generator body makes requests send Transfer-Encoding: chunked, with no Content-Length.
    answer = requests.post(f"{hub.url}/webhooks/sandbox", data=iter([body[:10], body[10:]]), headers=headers,
                           timeout=10)
    assert answer.status_code == 200 and hub.payment(payment["id"])["status"] == "succeeded"
    big = b"{" + b" " * 70_000 + b"}"
    answer = requests.post(f"{hub.url}/webhooks/sandbox", data=iter([big[:35_000], big[35_000:]]), timeout=10,
                           headers={"Content-Type": "application/json",
                                    "X-Payhub-Signature": sign_sandbox(big, SANDBOX_SECRET)})
    assert answer.status_code == 413


def test_socket_io_accepts_same_origin_and_listed_origins_only(live_hub):
    hub = live_hub(PAYHUB_CORS_ORIGINS="https://shop.example")
    for origin, allowed in ((hub.url, True), ("https://shop.example", True), ("https://evil.example", False)):
        sio = socketio.Client(reconnection=False)
        try:
            # Long-polling: websocket-client would add an Origin header of its own beside ours.
            sio.connect(hub.url, transports=["polling"], headers={"Origin": origin}, wait_timeout=5)
            connected = sio.connected
        except socketio.exceptions.ConnectionError:
            connected = False
        finally:
            sio.disconnect()
        assert connected is allowed, origin
