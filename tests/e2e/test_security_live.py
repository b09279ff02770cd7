"""Issue 8 against real `python app.py` processes: held long polls hold no database connection,
a second PayHub on a busy port refuses to start, chunked bodies over 64 KiB are 413 everywhere,
Socket.IO's origin check ignores the Host header, log lines cannot be forged, a sign-out
disconnects the dashboard's socket."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import socketio

from tests.conftest import sandbox_body, sign_sandbox
from tests.e2e.test_live import callback
from tests.livehub import API_KEY, ROOT, SANDBOX_SECRET, wait_until

pytestmark = pytest.mark.e2e

# Generous: these tests make more status requests from 127.0.0.1 than one shopper would.
POLLS = {"PAYHUB_LIMIT_STATUS": "10000/minute"}


def status_url(hub, payment) -> str:
    return f"{hub.url}/api/payments/{payment['id']}/status"


def long_poll(hub, payment, version: int, wait: int = 30) -> requests.Response:
    return requests.get(status_url(hub, payment), params={"wait": wait}, timeout=wait + 30,
                        headers={"X-Payhub-Token": payment["subscribe_token"],
                                 "If-None-Match": f'"{payment["id"]}.v{version}"'})


def held(hub) -> float:
    """payhub_long_polls_held from the hub's /metrics."""
    text = requests.get(f"{hub.url}/metrics", timeout=10).text
    line = next(x for x in text.splitlines() if x.startswith("payhub_long_polls_held "))
    return float(line.split()[1])


# -- long polls --------------------------------------------------------------------------------
HELD = 40  # well past SQLAlchemy's 5 + 10 connections


def test_held_long_polls_hold_no_database_connection(live_hub):
    """Issue 8 item 1: 20 held long polls made a webhook wait 28 s; 1,000 made 970 of them 500."""
    hub = live_hub(**POLLS)
    watched, other = hub.create(), hub.create()
    with ThreadPoolExecutor(HELD) as pool:
        polls = [pool.submit(long_poll, hub, watched, 1) for _ in range(HELD)]
        assert wait_until(lambda: held(hub) == HELD), "the long polls were never all held"

        started = time.monotonic()
        assert callback(hub, other, "success").status_code == 200
        answered_in = time.monotonic() - started
        # The old hub answered only once SQLAlchemy's 30 s pool timeout had passed (or not at all).
        assert answered_in < 10, f"a webhook took {answered_in:.1f} s while long polls were held"
        assert hub.payment(other["id"])["status"] == "succeeded"

        # Waking them: one change to the watched payment answers every held poll with it.
        assert callback(hub, watched, "success").status_code == 200
        answers = [p.result(timeout=60) for p in polls]
    assert {a.status_code for a in answers} == {200}
    assert {(a.json()["status"], a.json()["version"]) for a in answers} == {("succeeded", 2)}
    assert held(hub) == 0


def test_a_long_poll_keeps_waiting_after_failed_and_shows_the_late_success(live_hub):
    """Issue 7 item 7 (server side): `?wait` returned at once when the payment was final."""
    hub = live_hub(**POLLS)
    payment = hub.create()
    assert callback(hub, payment, "failure").status_code == 200
    assert hub.payment(payment["id"])["status"] == "failed"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(long_poll, hub, payment, 2, 30)
        assert wait_until(lambda: held(hub) == 1), "a long poll on a failed payment was not held"
        assert callback(hub, payment, "success").status_code == 200  # PayAtom's "Late Approved", say
        answer = waiting.result(timeout=60)
    assert answer.status_code == 200 and (answer.json()["status"], answer.json()["version"]) == ("succeeded", 3)


def test_long_polls_beyond_the_process_cap_are_429(live_hub):
    hub = live_hub(PAYHUB_LONG_POLL_MAX="3", **POLLS)
    payment = hub.create()
    with ThreadPoolExecutor(3) as pool:
        polls = [pool.submit(long_poll, hub, payment, 1, 10) for _ in range(3)]
        assert wait_until(lambda: held(hub) == 3)
        refused = long_poll(hub, payment, 1, 10)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
        # A plain poll (no wait) is still answered.
        plain = requests.get(status_url(hub, payment), headers={"X-Payhub-Token": payment["subscribe_token"]},
                             timeout=10)
        assert plain.status_code == 200
        assert callback(hub, payment, "success").status_code == 200
        assert [p.result(timeout=60).status_code for p in polls] == [200, 200, 200]


# -- a second PayHub on a port in use ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eventlet", "gevent", "threading"])
def test_a_second_payhub_on_a_busy_port_refuses_to_start(live_hub, tmp_path, mode):
    """Issue 8 item 4: eventlet listened with SO_REUSEPORT and the kernel split the traffic."""
    first = live_hub()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | {
        "PAYHUB_PORT": str(first.port), "PAYHUB_ASYNC_MODE": mode, "PAYHUB_INSTANCE_PATH": str(tmp_path / "second"),
        "PAYHUB_API_KEY": "k", "PAYHUB_SECRET_KEY": "s", "PAYHUB_SANDBOX_WEBHOOK_SECRET": "w",
    }
    second = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        out, err = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        second.kill()
        second.communicate()
        pytest.fail(f"a second PayHub ({mode}) kept running on port {first.port}")
    assert second.returncode != 0
    message = err.decode()
    assert f"port {first.port}" in message and "already in use" in message
    assert "PayHub on" not in out.decode()  # it never announced itself
    # The first one still answers every request itself.
    for _ in range(20):
        assert requests.get(f"{first.url}/healthz", timeout=5).status_code == 200
    assert first.payment(first.create()["id"])["status"] == "pending"


# -- chunked bodies ------------------------------------------------------------------------------
def chunks(data: bytes, size: int = 8192):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_api_body_over_64_kib_is_413_not_cut_and_accepted(live_hub):
    """Issue 8 item 6: a chunked /api body was cut to 64 KiB and the cut JSON accepted (201)."""
    hub = live_hub()
    create = json.dumps({"order_id": "chunk-big", "amount": 1000, "currency": "INR", "gateway": "sandbox"}).encode()
    padded = create + b" " * (100 * 1024)  # still valid JSON, whole or cut
    answer = requests.post(f"{hub.url}/api/payments", data=chunks(padded), timeout=10,
                           headers={**hub.headers, "Content-Type": "application/json"})
    assert answer.status_code == 413
    listing = requests.get(f"{hub.url}/api/payments", params={"order_id": "chunk-big"}, headers=hub.headers,
                           timeout=10)
    assert listing.json()["data"] == []

    small = json.dumps({"order_id": "chunk-small", "amount": 1000, "currency": "INR", "gateway": "sandbox"}).encode()
    accepted = requests.post(f"{hub.url}/api/payments", data=chunks(small + b" " * 60_000), timeout=10,
                             headers={**hub.headers, "Content-Type": "application/json"})
    assert accepted.status_code == 201 and accepted.json()["order_id"] == "chunk-small"


@pytest.mark.parametrize(("path", "content_type"), [
    ("/shop/orders", "application/x-www-form-urlencoded"),
    ("/dashboard/signin", "application/x-www-form-urlencoded"),
    ("/webhooks/sandbox", "application/json"),
    ("/api/payments/pay_x/status", "application/json"),
    ("/socket.io/?EIO=4&transport=polling", "text/plain"),
])
def test_every_route_refuses_a_chunked_body_over_64_kib(live_hub, path, content_type):
    hub = live_hub()
    body = b"item=chai&gateway=sandbox&pad=" + b"x" * (70 * 1024)
    answer = requests.post(f"{hub.url}{path}", data=chunks(body), headers={"Content-Type": content_type},
                           timeout=10)
    assert answer.status_code == 413
    assert requests.get(f"{hub.url}/api/payments", headers=hub.headers, timeout=10).json()["data"] == []


# -- Socket.IO's origin check --------------------------------------------------------------------
def test_socket_io_origin_is_checked_against_the_public_url_never_the_host_header(live_hub):
    """Issue 8 item 5: a DNS-rebinding page sends Host and Origin of its own name; the hub
    compared the Origin with the Host header and let it in."""
    hub = live_hub()
    handshake = f"{hub.url}/socket.io/?EIO=4&transport=polling"
    # The attacker's name resolves to 127.0.0.1 by then; the browser still says where it is.
    rebinding = requests.get(handshake, timeout=10, headers={"Host": f"rebind.example:{hub.port}",
                                                             "Origin": f"http://rebind.example:{hub.port}"})
    assert rebinding.status_code == 400
    own = requests.get(handshake, timeout=10, headers={"Origin": hub.url})
    assert own.status_code == 200 and own.text.startswith("0{")


# -- logs ----------------------------------------------------------------------------------------
FORGED = "2030-01-01 00:00:00,000 ERROR payhub.door: FORGED"


def test_nothing_a_visitor_sends_starts_a_line_of_the_log(live_hub):
    """Issue 8 item 7: a newline in an order id forged a log line."""
    hub = live_hub(PAYHUB_RAZORPAY_KEY_ID="rzp_test_x", PAYHUB_RAZORPAY_KEY_SECRET="secret",
                   PAYHUB_RAZORPAY_WEBHOOK_SECRET="whsec", PAYHUB_RAZORPAY_BASE_URL="http://127.0.0.1:9")
    sneaky = f"order_x\r\n{FORGED}"  # short enough for every id field
    requests.post(f"{hub.url}/return/razorpay", timeout=10,
                  data={"error[code]": "BAD_REQUEST_ERROR", "error[metadata]": json.dumps({"order_id": sneaky})})
    requests.post(f"{hub.url}/api/payments", json={"order_id": sneaky}, headers=hub.headers, timeout=10)
    requests.get(f"{hub.url}/pay/{sneaky}", timeout=10)
    # A signed callback for a transaction the hub does not know is logged with its id.
    body = sandbox_body(sneaky, "success")
    signed = {"Content-Type": "application/json", "X-Payhub-Signature": sign_sandbox(body, SANDBOX_SECRET)}
    requests.post(f"{hub.url}/webhooks/sandbox", data=body, timeout=10, headers=signed)
    assert wait_until(lambda: "order_x\\r\\n" in hub.log(), 10), hub.log()  # the id was logged, escaped
    lines = hub.log().splitlines()
    assert not [line for line in lines if line.startswith(FORGED)], hub.log()


# -- a sign-out ends the dashboard's live feed ---------------------------------------------------------
def signed_in(hub) -> requests.Session:
    """A browser signed in to the dashboard through its form (CSRF token included)."""
    browser = requests.Session()
    browser.post(f"{hub.url}/dashboard/signin", timeout=10,
                 data={"api_key": API_KEY, "csrf_token": page_csrf_token(browser, hub)}).raise_for_status()
    return browser


def page_csrf_token(browser: requests.Session, hub) -> str:
    page = browser.get(f"{hub.url}/dashboard", timeout=10).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_out(browser: requests.Session, hub) -> None:
    answer = browser.post(f"{hub.url}/dashboard/signout", data={"csrf_token": page_csrf_token(browser, hub)},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 303


class Feed:
    """The dashboard page's Socket.IO connection: the browser's cookie, the operators' feed."""

    def __init__(self, hub, browser: requests.Session) -> None:
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("payment_created", self.events.put)
        cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        self.sio.connect(hub.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
        assert self.sio.call("operators_join", {}, timeout=10) == {"ok": True}

    def created(self, timeout: float) -> str | None:
        try:
            return self.events.get(timeout=timeout)["id"]
        except queue.Empty:
            return None

    def disconnected(self, timeout: float = 10) -> bool:
        return wait_until(lambda: not self.sio.connected, timeout=timeout, step=0.05)


def test_signing_out_disconnects_the_dashboards_socket(live_hub):
    """The page's socket kept every payment coming after its operator had signed out."""
    hub = live_hub()
    browser = signed_in(hub)
    feed = Feed(hub, browser)
    first = hub.create()
    assert feed.created(timeout=5) == first["id"]
    sign_out(browser, hub)
    assert feed.disconnected(), "the socket outlived the sign-out"
    hub.create()
    assert feed.created(timeout=1) is None
