"""The server's runtime tuning (issue 11), seen from outside `python app.py`: WAL checkpoints
run in the background (committed rows reach the database file itself within seconds, without
waiting for SQLite's 1,000-page automatic checkpoint inside some callback's commit), and the
garbage collector's pauses are measured on /metrics."""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests

pytestmark = pytest.mark.e2e


def rows_in_main_file(path: str) -> int:
    """Payments in the database file proper: `immutable=1` reads the file and ignores the WAL,
    so only checkpointed pages count."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        try:
            return conn.execute("SELECT count(*) FROM payments").fetchone()[0]
        except sqlite3.DatabaseError:  # the file has not even received the schema yet
            return 0


@pytest.mark.parametrize("async_mode", ["eventlet", "threading"])
def test_committed_payments_reach_the_database_file_within_seconds(live_hub, tmp_path, async_mode):
    hub = live_hub(tmp_path / "hub", PAYHUB_ASYNC_MODE=async_mode, PAYHUB_SCHEDULER="0")
    before = rows_in_main_file(str(tmp_path / "hub" / "payhub.db"))
    made = [hub.create()["id"] for _ in range(5)]  # a few pages: far below the automatic checkpoint
    deadline = time.monotonic() + 15
    while rows_in_main_file(str(tmp_path / "hub" / "payhub.db")) < before + len(made):
        assert time.monotonic() < deadline, "the WAL was never checkpointed into the database file"
        time.sleep(0.2)


def test_garbage_collection_pauses_are_on_metrics(live_hub, tmp_path):
    hub = live_hub(tmp_path / "hub", PAYHUB_SCHEDULER="0")
    series = [f'payhub_gc_pause_seconds_count{{generation="{g}"}}' for g in range(3)]

    def counts() -> dict[str, float]:
        text = requests.get(f"{hub.url}/metrics", headers=hub.headers, timeout=10).text
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("payhub_gc_pause_seconds_count")}

    assert set(counts()) == set(series)
    # Young collections come with allocations that survive a while: these payments' pages.
    deadline = time.monotonic() + 60
    while counts()[series[0]] == 0:
        assert time.monotonic() < deadline, "no collection was ever timed"
        for _ in range(25):
            hub.create()


def test_callbacks_arriving_together_share_commits_under_eventlet(live_hub, tmp_path):
    """Group commit in the real server: a burst of callbacks (held up behind another writer)
    is written in fewer commits than callbacks, each answered applied, each pushed once."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.e2e.test_live import Watcher, callback

    hub = live_hub(tmp_path / "hub", PAYHUB_SCHEDULER="0")
    payments = [hub.create() for _ in range(30)]
    watcher = Watcher(hub.url)
    for payment in payments:
        assert watcher.subscribe(payment)["ok"]

    def commits() -> float:
        text = requests.get(f"{hub.url}/metrics", headers=hub.headers, timeout=10).text
        return sum(float(line.split()[1]) for line in text.splitlines()
                   if line.startswith("payhub_commit_group_size_count"))

    before = commits()
    blocker = sqlite3.connect(tmp_path / "hub" / "payhub.db", isolation_level=None, timeout=15)
    blocker.execute("BEGIN IMMEDIATE")
    with ThreadPoolExecutor(len(payments)) as pool:
        answers = [pool.submit(callback, hub, p, "success") for p in payments]
        time.sleep(1)
        blocker.execute("ROLLBACK")
        results = [a.result().json()["result"] for a in answers]
    assert results == ["applied"] * len(payments)
    assert commits() - before < len(payments)
    pushed = sorted(watcher.next(timeout=10)["id"] for _ in payments)
    assert pushed == sorted(p["id"] for p in payments)
    watcher.close()
