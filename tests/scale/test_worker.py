"""The worker role on PostgreSQL + Redis: web processes (PAYHUB_SCHEDULER=0) never sweep; one
`python -m payhub.worker` sweeps and retries merchant notifications; killed -9 and restarted it
carries on; two workers by mistake poll no payment twice at once and send no notification
twice at once."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import defaultdict
from typing import Any

import pytest
import requests

from tests.e2e.test_live import Watcher, callback
from tests.fakes import Answer, Call, FakeServer
from tests.livehub import LiveHub, LiveWorker, eventually, free_port
from tests.scale.conftest import SERIAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, SERIAL]

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST_SWEEP = {"PAYHUB_POLL_AFTER": "1", "PAYHUB_EXPIRE_AFTER": "600", "PAYHUB_SWEEP_INTERVAL": "1"}


def pay_quietly(payment: dict) -> None:
    """Pay at the sandbox with a 60 s callback delay: only a poll can find it in time."""
    answer = requests.post(payment["checkout"]["redirect_url"], data={"action": "pay", "delay": "60"}, timeout=5,
                           allow_redirects=False)
    assert answer.status_code in (302, 303)


class Merchant(FakeServer):
    """The merchant's webhook endpoint: records each delivery's webhook-id and how long it took."""

    def __init__(self, slow: float = 0.0) -> None:
        super().__init__()
        self.slow = slow
        self.accepting = threading.Event()
        self.deliveries: list[tuple[str, float, float, int]] = []  # webhook-id, start, end, status
        self.route("POST", "/hook", self._hook)

    def _hook(self, call: Call, _match: Any) -> Answer:
        start = time.monotonic()
        status = 200 if self.accepting.is_set() else 503
        if status == 200:
            time.sleep(self.slow)
        self.deliveries.append((call.header("webhook-id"), start, time.monotonic(), status))
        return Answer(status, {"ok": status == 200})

    def settings(self) -> dict[str, str]:
        return {"PAYHUB_MERCHANT_WEBHOOK_URL": f"{self.url}/hook", "PAYHUB_MERCHANT_WEBHOOK_SECRET": WEBHOOK_SECRET}

    def delivered(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for webhook_id, _start, _end, status in list(self.deliveries):
            counts[webhook_id] += status == 200
        return counts


def overlapping(spans: list[tuple[float, float]]) -> bool:
    spans = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


@pytest.fixture
def cluster(pg_url, redis_url, tmp_path):
    """start(kind, **env): web processes and workers on one PostgreSQL + Redis; all stopped at the end."""
    started: list[Any] = []
    base = {"PAYHUB_DATABASE_URL": pg_url, "PAYHUB_MESSAGE_QUEUE": redis_url}

    def start(kind: str, **env: str) -> Any:
        folder = tmp_path / f"{kind}{len(started)}"
        process = (LiveHub(folder, **base, PAYHUB_SCHEDULER="0", **env) if kind == "web"
                   else LiveWorker(folder, **base, **env))
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def test_web_processes_never_sweep_the_worker_does_and_its_pushes_reach_the_web_subscribers(cluster):
    web = cluster("web", **FAST_SWEEP)
    payment = web.create()
    watcher = Watcher(web.url)
    try:
        assert watcher.subscribe(payment)["ok"]
        pay_quietly(payment)
        time.sleep(4)  # four sweep intervals: a web process that swept would have found it
        assert web.payment(payment["id"])["status"] == "pending"
        cluster("worker", PAYHUB_PUBLIC_URL=web.url, **FAST_SWEEP)
        assert watcher.next(timeout=15)["status"] == "succeeded"  # polled by the worker, pushed via Redis
        assert [e["source"] for e in web.payment(payment["id"])["events"] if e["applied"]] == ["poll"]
    finally:
        watcher.close()


def test_a_worker_killed_9_and_restarted_carries_on(cluster):
    merchant = Merchant().start()
    try:
        hooks = merchant.settings()
        web = cluster("web", **FAST_SWEEP, **hooks)
        worker = cluster("worker", PAYHUB_PUBLIC_URL=web.url, **FAST_SWEEP, **hooks)
        paid = web.create()
        assert callback(web, paid, "success").status_code == 200  # the merchant refuses the first attempt
        eventually(lambda: merchant.deliveries, 10, "the first delivery attempt")
        worker.kill()
        stale = web.create()
        pay_quietly(stale)
        merchant.accepting.set()
        time.sleep(7)  # past the first retry's due time: nobody delivers, nobody sweeps
        assert not any(merchant.delivered().values())
        assert web.payment(stale["id"])["status"] == "pending"

        worker.start()
        eventually(lambda: web.payment(stale["id"])["status"] == "succeeded", 15, "the restarted worker's sweep")
        eventually(lambda: len([n for n in merchant.delivered().values() if n]) == 2, 20, "both notifications")
        assert set(merchant.delivered().values()) == {1}
    finally:
        merchant.stop()


def test_two_workers_never_poll_a_payment_twice_at_once_nor_send_a_notification_twice(cluster, tmp_path):
    # A slow sandbox status API (1.5 s a poll: longer than the 1 s sweep interval, so only the
    # per-claim poll lease keeps the other worker off a payment being polled) and a slow merchant.
    gateway = FakeServer()
    polls: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def status(call: Call, match: Any) -> Answer:
        start = time.monotonic()
        time.sleep(1.5)
        polls[match["txn"]].append((start, time.monotonic()))
        return Answer(200, {"transaction_id": match["txn"], "status": "processing", "amount": 1000,
                            "currency": "INR"})

    gateway.route("GET", r"/status/(?P<txn>[\w-]+)", status)
    merchant = Merchant(slow=1.5)
    gateway.start()
    merchant.start()
    try:
        hooks = merchant.settings()
        web = cluster("web", **FAST_SWEEP, **hooks)
        waiting = [web.create() for _ in range(4)]
        paid = [web.create() for _ in range(6)]
        for payment in paid:  # first attempts (from the web process) are refused: the workers retry them
            assert callback(web, payment, "success").status_code == 200
        eventually(lambda: len(merchant.deliveries) >= len(paid), 10, "the first attempts")
        merchant.accepting.set()
        workers = [cluster("worker", PAYHUB_PUBLIC_URL=web.url, PAYHUB_SANDBOX_BASE_URL=gateway.url, **FAST_SWEEP,
                           **hooks) for _ in range(2)]
        eventually(lambda: len([n for n in merchant.delivered().values() if n]) == len(paid), 40, "every notification")
        eventually(lambda: all(len(polls[p["gateway_order_id"]]) >= 2 for p in waiting), 30, "repeated polls")
        for worker in workers:
            worker.stop()
    finally:
        gateway.stop()
        merchant.stop()
    assert set(merchant.delivered().values()) == {1}, "a notification was delivered twice"
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for webhook_id, start, end, status in merchant.deliveries:
        if status == 200:
            spans[webhook_id].append((start, end))
    assert not any(overlapping(s) for s in spans.values())
    for payment in waiting:
        assert not overlapping(polls[payment["gateway_order_id"]]), f"{payment['id']} was polled twice at once"


def test_under_gunicorn_the_web_process_serves_sockets_and_never_sweeps(cluster, pg_url, redis_url, tmp_path):
    """Another WSGI server (gunicorn, gevent worker) runs app.py's wsgi(): it serves the API and
    Socket.IO over websocket, and sweeps nothing even with PAYHUB_SCHEDULER left at 1."""
    port = free_port()
    web = LiveHub(tmp_path / "gunicorn", command=[sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
                                                  "-b", f"127.0.0.1:{port}", "app:wsgi()"],
                  PAYHUB_PORT=str(port), PAYHUB_DATABASE_URL=pg_url, PAYHUB_MESSAGE_QUEUE=redis_url,
                  PAYHUB_ASYNC_MODE="gevent", **FAST_SWEEP).start()
    watcher = None
    try:
        quiet, loud = web.create(), web.create()
        watcher = Watcher(web.url)
        assert watcher.subscribe(quiet)["ok"] and watcher.subscribe(loud)["ok"]
        pay_quietly(quiet)
        assert callback(web, loud, "success").status_code == 200
        assert watcher.next(timeout=10)["id"] == loud["id"]
        time.sleep(4)
        assert web.payment(quiet["id"])["status"] == "pending"  # nothing swept
        cluster("worker", PAYHUB_PUBLIC_URL=web.url, **FAST_SWEEP)
        view = watcher.next(timeout=15)  # polled by the worker, pushed through Redis to gunicorn's socket
        assert (view["id"], view["status"]) == (quiet["id"], "succeeded")
    finally:
        if watcher is not None:
            watcher.close()
        web.stop()
