"""PostgreSQL never stalls a process (CONTRACT.md §1): while one callback waits for a row lock
held by someone else for 3 s, the same process keeps answering /healthz and pushing other
payments' changes at once, under eventlet (the default) and gevent."""

from __future__ import annotations

import statistics
import threading
import time

import psycopg
import pytest
import requests

from tests.e2e.test_live import Watcher, callback
from tests.livehub import LiveHub
from tests.scale.conftest import SERIAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, SERIAL]

HOLD = 3.0  # seconds the outside transaction keeps the payment's row locked
# A stalled process answers nothing until the lock goes (~3,000 ms, or not at all). The bounds
# below are far from that yet loose enough for a busy 2-core machine; the figure itself (a few
# ms on a quiet machine, the 50 ms target) comes from bench/cluster.py, not from this test.
TYPICAL_MS = 250  # the median answer while the lock is held
NEVER_MS = HOLD * 1000 / 2  # no single answer comes near the lock's length


def conninfo(pg_url: str) -> str:
    return pg_url.replace("postgresql+psycopg://", "postgresql://")


def waiting_for_lock(lock: psycopg.Connection) -> bool:
    with psycopg.connect(lock.info.dsn, autocommit=True) as probe:
        return probe.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0] > 0


class Probe:
    """What the process answered while the lock was held."""

    def __init__(self, hub: LiveHub, watcher: Watcher) -> None:
        self.hub, self.watcher = hub, watcher
        self.healthz_ms: list[float] = []
        self.push_ms: list[float] = []

    def healthz(self) -> None:
        start = time.perf_counter()
        assert requests.get(f"{self.hub.url}/healthz", timeout=10).status_code == 200
        self.healthz_ms.append((time.perf_counter() - start) * 1000)

    def push(self, payment: dict) -> None:
        start = time.perf_counter()
        assert callback(self.hub, payment, "success").status_code == 200
        event = self.watcher.next(timeout=10)
        self.push_ms.append((time.perf_counter() - start) * 1000)
        assert event["id"] == payment["id"] and event["status"] == "succeeded"


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_callback_waiting_on_a_row_lock_stalls_nothing_else(async_mode, pg_url, redis_url, tmp_path):
    hub = LiveHub(tmp_path / "hub", PAYHUB_DATABASE_URL=pg_url, PAYHUB_MESSAGE_QUEUE=redis_url,
                  PAYHUB_ASYNC_MODE=async_mode, PAYHUB_SCHEDULER="0").start()
    watcher = None
    try:
        locked, others = hub.create(), [hub.create() for _ in range(12)]
        watcher = Watcher(hub.url)
        for payment in others:
            assert watcher.subscribe(payment)["ok"]
        probe = Probe(hub, watcher)
        probe.push(others.pop())  # warm: connections made, room joined
        answer: dict = {}

        with psycopg.connect(conninfo(pg_url)) as lock:
            lock.execute("SELECT id FROM payments WHERE id = %s FOR UPDATE", (locked["id"],))
            held_at = time.monotonic()

            def blocked_callback() -> None:
                start = time.monotonic()
                answer["status"] = callback(hub, locked, "success").status_code
                answer["seconds"] = time.monotonic() - start

            sender = threading.Thread(target=blocked_callback)
            sender.start()
            deadline = time.monotonic() + 10
            while not waiting_for_lock(lock):  # the hub's update is now parked on the row lock
                assert time.monotonic() < deadline, "the callback never reached the locked row"
                time.sleep(0.02)
            while time.monotonic() - held_at < HOLD - 0.3 and others:
                probe.healthz()
                probe.push(others.pop())
                time.sleep(0.05)
            assert "status" not in answer, "the locked callback finished while the row was locked"
            time.sleep(max(0.0, HOLD - (time.monotonic() - held_at)))
            lock.rollback()
        sender.join(15)

        print(f"\n{async_mode}: healthz ms {[round(v, 1) for v in probe.healthz_ms]}, "
              f"push ms {[round(v, 1) for v in probe.push_ms]}, locked callback {answer}")
        assert len(probe.healthz_ms) >= 3 and len(probe.push_ms) >= 3  # a stalled process manages one at most
        assert statistics.median(probe.healthz_ms) < TYPICAL_MS and statistics.median(probe.push_ms) < TYPICAL_MS
        assert max(probe.healthz_ms) < NEVER_MS and max(probe.push_ms) < NEVER_MS
        assert answer["status"] == 200 and answer["seconds"] >= HOLD - 1  # it really waited for the lock
        assert hub.payment(locked["id"])["status"] == "succeeded"
    finally:
        if watcher is not None:
            watcher.close()
        hub.stop()
