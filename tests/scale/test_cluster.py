"""The cluster end to end, as scripts/cluster.sh deploys it: 3 web processes + 1 worker + nginx
(deploy/nginx.conf) on PostgreSQL + Redis, everything through nginx's one port.

- subscribers spread over the processes (websocket-only clients are balanced; long-polling
  clients are sticky) each get every push, whichever process took the callback;
- a stream of callbacks while one web process is killed -9: every acknowledged callback is
  applied exactly once (the rest are the gateway's to retry, and are applied once when it
  does), and the clients reconnect through nginx and end on the final view.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.conftest import sandbox_body, sign_sandbox
from tests.livehub import API_KEY, ROOT, SANDBOX_SECRET, SECRET_KEY, eventually, free_port, free_run
from tests.scale.conftest import SERIAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, SERIAL]

WEB = 3
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


class Cluster:
    def __init__(self, folder: Path, pg_url: str, redis_url: str) -> None:
        self.folder = folder
        self.port, self.web_port = free_port(), free_run(WEB)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | {
            "CLUSTER_PORT": str(self.port), "CLUSTER_WEB_PORT": str(self.web_port), "CLUSTER_DIR": str(folder),
            "PAYHUB_DATABASE_URL": pg_url, "PAYHUB_MESSAGE_QUEUE": redis_url, "PAYHUB_API_KEY": API_KEY,
            "PAYHUB_SECRET_KEY": SECRET_KEY, "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
            # Every client is 127.0.0.1 here, reconnecting and resubscribing after a kill: lift
            # the per-address limits (README "Security").
            "PAYHUB_RATE_LIMITS": "0",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "scripts/cluster.sh", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=180)

    def web_pid(self, index: int) -> int:
        return int((self.folder / f"web{index}.pid").read_text())

    def pids(self) -> list[int]:
        files = [*self.folder.glob("web*.pid"), self.folder / "worker.pid", self.folder / "nginx" / "nginx.pid"]
        return [int(f.read_text()) for f in files if f.exists()]

    def clients_per_process(self) -> list[int]:
        counts = []
        for index in range(WEB):
            try:
                text = requests.get(f"http://127.0.0.1:{self.web_port + index}/metrics", timeout=5).text
            except requests.RequestException:
                counts.append(-1)
                continue
            found = re.search(r"^payhub_socket_clients (\S+)$", text, re.M)
            counts.append(int(float(found.group(1))) if found else 0)
        return counts

    def create(self) -> dict[str, Any]:
        body = {"order_id": f"ord_{os.urandom(6).hex()}", "amount": 1000, "currency": "INR", "gateway": "sandbox"}
        answer = requests.post(f"{self.url}/api/payments", json=body, headers=HEADERS, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def payment(self, payment_id: str) -> dict[str, Any]:
        answer = requests.get(f"{self.url}/api/payments/{payment_id}", headers=HEADERS, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def callback(self, payment: dict[str, Any], status: str = "success") -> int:
        body = sandbox_body(payment["gateway_order_id"], status, payment["amount"], f"evt_{payment['id']}_{status}")
        headers = {"Content-Type": "application/json", "X-Payhub-Signature": sign_sandbox(body, SANDBOX_SECRET)}
        try:
            return requests.post(f"{self.url}/webhooks/sandbox", data=body, timeout=10, headers=headers).status_code
        except requests.RequestException:
            return 0


class Subscriber:
    """A browser stand-in that keeps, per payment, the last view it was given (ack or push), and
    resubscribes after every reconnect, as payhub.js does."""

    def __init__(self, url: str, payments: list[dict[str, Any]], transports: list[str] | None) -> None:
        self.payments = payments
        self.views: dict[str, dict[str, Any]] = {}
        self.pushes: queue.Queue = queue.Queue()
        self.connects = 0
        self.lock = threading.Lock()
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
        self.sio.on("payment_status", self._pushed)
        self.sio.on("connect", self._connected)
        self.sio.connect(url, transports=transports, wait_timeout=10)

    def _keep(self, view: dict[str, Any]) -> None:
        with self.lock:
            if view["version"] >= self.views.get(view["id"], {"version": 0})["version"]:
                self.views[view["id"]] = view

    def _pushed(self, view: dict[str, Any]) -> None:
        self._keep(view)
        self.pushes.put(view)

    def _connected(self) -> None:
        self.connects += 1
        threading.Thread(target=self._subscribe_all, daemon=True).start()  # never block the client's own thread

    def _subscribe_all(self) -> None:
        for payment in self.payments:
            try:
                ack = self.sio.call("subscribe", {"payment_id": payment["id"], "token": payment["subscribe_token"]},
                                    timeout=10)
            except Exception:  # disconnected meanwhile: the next connect resubscribes
                return
            if ack.get("ok"):
                self._keep(ack["payment"])

    def subscribed(self) -> bool:
        with self.lock:
            return len(self.views) == len(self.payments)

    def final(self) -> bool:
        with self.lock:
            return all(self.views.get(p["id"], {}).get("status") == "succeeded" for p in self.payments)

    def close(self) -> None:
        self.sio.disconnect()


@pytest.fixture
def cluster(pg_url, redis_url, tmp_path):
    running = Cluster(tmp_path / "cluster", pg_url, redis_url)
    started = running.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield running
    finally:
        pids = running.pids()
        stopped = running.run("stop")
        assert stopped.returncode == 0, stopped.stderr
        for pid in pids:  # a clean stop: nothing it started is left running
            eventually(lambda pid=pid: not _alive(pid), 15, f"pid {pid} to end")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent, the script's shell, is gone).
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_subscribers_spread_over_the_processes_each_get_every_push(cluster):
    payments = [cluster.create() for _ in range(12)]
    spread = [Subscriber(cluster.url, [p], ["websocket"]) for p in payments[:9]]
    polling = [Subscriber(cluster.url, [p], None) for p in payments[9:]]  # start on long-polling, then upgrade
    subscribers = spread + polling
    try:
        eventually(lambda: all(s.subscribed() for s in subscribers), 20, "every subscription")
        per_process = cluster.clients_per_process()
        assert sum(per_process) == len(subscribers) and all(n >= 2 for n in per_process), per_process
        with ThreadPoolExecutor(6) as pool:  # callbacks through nginx land on any process
            assert set(pool.map(cluster.callback, payments)) == {200}
        for subscriber in subscribers:
            view = subscriber.pushes.get(timeout=10)
            assert (view["id"], view["status"]) == (subscriber.payments[0]["id"], "succeeded")
        assert all(s.pushes.empty() for s in subscribers)  # exactly one push each
    finally:
        for subscriber in subscribers:
            subscriber.close()


def test_killing_a_web_process_mid_stream_loses_no_acknowledged_callback(cluster):
    payments = [cluster.create() for _ in range(90)]
    subscribers = [Subscriber(cluster.url, payments[i::6], ["websocket"]) for i in range(6)]
    try:
        eventually(lambda: all(s.subscribed() for s in subscribers), 30, "every subscription")
        assert all(n > 0 for n in cluster.clients_per_process())
        answers: dict[str, int] = {}

        def send(payment: dict[str, Any]) -> None:
            answers[payment["id"]] = cluster.callback(payment)
            time.sleep(0.02)

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send, p) for p in payments]
            eventually(lambda: len(answers) >= 25, 30, "the first callbacks")
            os.kill(cluster.web_pid(1), signal.SIGKILL)
            for future in futures:
                future.result()
        acknowledged = {pid for pid, code in answers.items() if code == 200}
        assert len(acknowledged) >= 25
        for payment in payments:  # what got no 2xx, the gateway sends again
            if payment["id"] not in acknowledged:
                eventually(lambda payment=payment: cluster.callback(payment) == 200, 20, "a retried callback")
        for payment in payments:
            view = cluster.payment(payment["id"])
            applied = [e for e in view["events"] if e["applied"]]
            assert (view["status"], view["version"], len(applied)) == ("succeeded", 2, 1), payment["id"]
        eventually(lambda: all(s.final() for s in subscribers), 30, "every client's final view")
        assert any(s.connects > 1 for s in subscribers), "no client was on the killed process"
        assert cluster.clients_per_process()[1] == -1  # the killed process stays dead; nginx routes around it
    finally:
        for subscriber in subscribers:
            subscriber.close()
