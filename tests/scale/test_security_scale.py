"""Issue 8 on PostgreSQL + Redis with two `python app.py` processes: held long polls hold no
database connection (PostgreSQL says so), a change committed by the other process still wakes
them, and the rate limits count across processes (Redis)."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.e2e.test_live import callback
from tests.e2e.test_security_live import held, long_poll, wait_until
from tests.livehub import LiveHub
from tests.scale.conftest import PG_BASE, SERIAL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e, SERIAL]

HELD = 40  # past SQLAlchemy's pool (10 + 20 on PostgreSQL)


HELD_FOR = 3.0  # seconds the polls are held before PostgreSQL is asked
OPEN_FOR = 2.0  # a transaction open this long is held across the wait, not a read in passing


def lasting_transactions(application_name: str) -> list[tuple[str, str]]:
    """(state, query) of the hub's PostgreSQL connections that have been in a transaction (or a
    statement) for more than OPEN_FOR seconds. A single read caught between its SELECT and its
    ROLLBACK is 'idle in transaction' for a few milliseconds, e.g. the last poll still reading
    when the metric already counts it held, or the once-a-second re-check; a transaction kept
    across a held poll is that old by the time we ask."""
    conninfo = PG_BASE.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT state, query FROM pg_stat_activity WHERE application_name = %s "
                            "AND state <> 'idle' AND xact_start < now() - make_interval(secs => %s)",
                            (application_name, OPEN_FOR)).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_held_long_polls_hold_no_postgres_connection_and_wake_across_processes(pg_url, redis_url, tmp_path):
    name = f"payhub-lp-{uuid.uuid4().hex[:8]}"
    env = {"PAYHUB_DATABASE_URL": f"{pg_url}&application_name={name}", "PAYHUB_MESSAGE_QUEUE": redis_url,
           "PAYHUB_LIMIT_STATUS": "10000/minute"}
    first = LiveHub(tmp_path / "a", **env).start()
    second = LiveHub(tmp_path / "b", **env).start()
    try:
        watched = first.create()
        with ThreadPoolExecutor(HELD) as pool:
            polls = [pool.submit(long_poll, first, watched, 1) for _ in range(HELD)]
            assert wait_until(lambda: held(first) == HELD), "the long polls were never all held"
            time.sleep(HELD_FOR)
            # The old hub kept one transaction open per held poll ("idle in transaction").
            assert lasting_transactions(name) == []
            assert held(first) == HELD  # asked while every poll was still held (they wait 30 s)
            # The change is committed by the other process: this one hears of it by its re-check.
            assert callback(second, watched, "success").status_code == 200
            answers = [p.result(timeout=60) for p in polls]
        assert {(a.status_code, a.json()["version"]) for a in answers} == {(200, 2)}
    finally:
        first.stop()
        second.stop()


def test_rate_limits_count_across_processes_in_redis(pg_url, redis_url, tmp_path):
    env = {"PAYHUB_DATABASE_URL": pg_url, "PAYHUB_MESSAGE_QUEUE": redis_url, "PAYHUB_LIMIT_SHOP": "3/minute",
           "PAYHUB_TRUSTED_PROXIES": "1"}
    first = LiveHub(tmp_path / "a", **env).start()
    second = LiveHub(tmp_path / "b", **env).start()
    try:
        # One shopper (an address of its own, so no other run shares the count) at two processes.
        shopper = {"X-Forwarded-For": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}

        def order(hub: LiveHub) -> requests.Response:
            return requests.post(f"{hub.url}/shop/orders", data={"item": "chai"}, headers=shopper,
                                 allow_redirects=False, timeout=10)

        assert [order(h).status_code for h in (first, second, first)] == [303, 303, 303]
        refused = order(second)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        time.sleep(0.1)
        assert order(first).status_code == 429
    finally:
        first.stop()
        second.stop()
