"""PostgreSQL and Redis for the scale-out tests. Skipped only where the servers are truly
absent; under CI (CI set) their absence is a failure, never a silent skip."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

SHARED_PG = os.environ.get("PAYHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Each pytest-xdist worker gets a database of its own (test_gw0, ...): PostgreSQL's advisory
# locks (the migration lock) and pg_stat_activity are per database, so a test holding the lock on
# one worker would otherwise stall every PostgreSQL start on the others.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
PG_BASE = f"{SHARED_PG}_{WORKER}" if WORKER else SHARED_PG
_database_made = False
REDIS_URL = os.environ.get("PAYHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")

# Tests that run one after another on a single pytest-xdist worker (scripts/test.sh runs
# `--dist loadgroup`): those on Redis, whose pub/sub channel is server-wide (a db index does not
# separate it), so two workers' clusters would hear each other's pushes. The kill -9 cluster
# and row-lock stall tests are among them, so they never overlap each other either.
SERIAL = pytest.mark.xdist_group("serial")


def unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run these tests, not skip them)")
    pytest.skip(message)


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _make_worker_database() -> None:
    """CREATE DATABASE test_<worker> on the shared server, once per worker process (kept between
    runs; each test still works in a schema of its own, dropped afterwards)."""
    global _database_made
    if _database_made or PG_BASE == SHARED_PG:
        return
    import psycopg

    name = PG_BASE.rsplit("/", 1)[1]
    with psycopg.connect(_conninfo(SHARED_PG), autocommit=True, connect_timeout=3) as conn:
        for attempt in range(20):
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                break
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
                break
            except psycopg.errors.ObjectInUse:  # another worker is copying template1 right now
                time.sleep(0.2 * (attempt + 1))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                break
    _database_made = True


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    import psycopg

    conninfo = _conninfo(PG_BASE)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        _make_worker_database()
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    return REDIS_URL
