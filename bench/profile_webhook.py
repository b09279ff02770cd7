"""Where one sandbox callback's time goes inside the hub, measured in-process (no server, no sockets).

    .venv/bin/python bench/profile_webhook.py [--callbacks 2000] [--top 25] [--postgres]

Builds the app on a fresh SQLite file (the hub's own settings), creates the payments through the
merchant API (test client), then posts signed callbacks through the test client and reports:
time per callback, SQL statements per callback and the time spent executing them, time in
COMMIT, time in garbage collection, and the costliest functions (cProfile). For comparison it
times the naive baseline's work (ORM get, change, commit) on the same database.

--postgres: on a fresh schema of the local PostgreSQL (PAYHUB_TEST_POSTGRES, default
127.0.0.1:5432 db `test`), dropped afterwards; the app's own pool settings, psycopg's own (C)
wait as in a plain-threads process. tests/scale/test_pg_roundtrips.py counts the round trips.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servers import signed_callback  # noqa: E402
from sqlalchemy import event  # noqa: E402

from payhub import create_app  # noqa: E402
from payhub.extensions import db  # noqa: E402
from payhub.models import Payment  # noqa: E402

SECRET = "profile-sandbox-secret"


class SqlCounter:
    """Counts statements and the time the DBAPI cursor spends executing them."""

    def __init__(self, engine: object) -> None:
        self.statements, self.seconds, self._started = 0, 0.0, 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: object) -> None:
        self._started = time.perf_counter()

    def _after(self, *_: object) -> None:
        self.statements += 1
        self.seconds += time.perf_counter() - self._started


class GcTimer:
    def __init__(self) -> None:
        self.seconds, self.collections, self._started = 0.0, 0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


def make_payments(client: object, count: int) -> list[dict]:
    made = []
    for i in range(count):
        body = {"order_id": f"prof_{i}", "amount": 1000, "currency": "INR", "gateway": "sandbox"}
        answer = client.post("/api/payments", json=body, headers={"Authorization": "Bearer k"})
        assert answer.status_code == 201, answer.get_json()
        made.append(answer.get_json())
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callbacks", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL (a fresh schema) instead of SQLite")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="payhub-profile-")
    try:
        with database(args.postgres, folder) as url:
            app = create_app({"PAYHUB_INSTANCE_PATH": folder, "PAYHUB_DATABASE_URL": url,
                              "PAYHUB_API_KEY": "k", "PAYHUB_SECRET_KEY": "s", "PAYHUB_SANDBOX_WEBHOOK_SECRET": SECRET,
                              "PAYHUB_SCHEDULER": "0", "PAYHUB_PUBLIC_URL": "http://127.0.0.1:5000"})
            try:
                run(app, args)
            finally:
                with app.app_context():
                    db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def database(postgres: bool, folder: str) -> Iterator[str]:
    """A SQLite file in `folder`, or a PostgreSQL schema made for the run and dropped after it."""
    if not postgres:
        yield f"sqlite:///{folder}/payhub.db"
        return
    import psycopg

    base = os.environ.get("PAYHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    conninfo, schema = base.replace("postgresql+psycopg://", "postgresql://"), f"profile_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def run(app: object, args: argparse.Namespace) -> None:
    client = app.test_client()
    n = args.callbacks
    payments = make_payments(client, 2 * n + 300)
    jobs = [signed_callback(SECRET, p["gateway_order_id"]) for p in payments]
    post(client, jobs[:100])  # warm-up: statement caches, imports
    with app.app_context():
        sql = SqlCounter(db.engine)
    gc_timer = GcTimer()
    seconds = post(client, jobs[100:100 + n])
    print(f"{n} callbacks through the test client: {1000 * seconds / n:.2f} ms each")
    print(f"  SQL: {sql.statements / n:.1f} statements per callback, {1000 * sql.seconds / n:.2f} ms executing them")
    print(f"  garbage collection: {gc_timer.collections} runs, {1000 * gc_timer.seconds / n:.2f} ms per callback")
    naive(app, [p["id"] for p in payments[-200:]], sql)
    profiler = cProfile.Profile()
    profiler.enable()
    profiled = post(client, jobs[100 + n:100 + 2 * n])
    profiler.disable()
    report(args, profiler, profiled)


def post(client: object, jobs: list) -> float:
    started = time.perf_counter()
    for body, headers in jobs:
        answer = client.post("/webhooks/sandbox", data=body, headers=headers)
        assert answer.status_code == 200 and answer.get_json()["result"] == "applied", answer.get_json()
    return time.perf_counter() - started


def report(args: argparse.Namespace, profiler: cProfile.Profile, seconds: float) -> None:
    n = args.callbacks
    stats = pstats.Stats(profiler)
    commit = sum(v[3] for k, v in stats.stats.items() if k[2] == "<method 'commit' of 'sqlite3.Connection' objects>"
                 or (k[2] == "commit" and k[0].endswith(os.path.join("psycopg", "connection.py"))))
    print(f"\nthe same under cProfile: {1000 * seconds / n:.2f} ms each; COMMIT {1000 * commit / n:.2f} ms")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"payhub|flask/app|socketio", args.top)
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())


def naive(app: object, ids: list[str], sql: SqlCounter) -> None:
    """The baseline's work on the same database, for scale: get, change, commit."""
    with app.app_context():
        before, started = sql.statements, time.perf_counter()
        for pid in ids:
            payment = db.session.get(Payment, pid)
            payment.version += 1
            db.session.commit()
        took = time.perf_counter() - started
        print(f"naive ORM get + change + commit on the same database: {1000 * took / len(ids):.2f} ms each, "
              f"{(sql.statements - before) / len(ids):.1f} statements")


if __name__ == "__main__":
    main()
