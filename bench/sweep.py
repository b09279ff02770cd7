"""The sweep benchmark (issue 7): a backlog of stale pending payments, one sweep, polls/s.

A local fake sandbox gateway answers every status poll after `--latency` (100 ms) with
"processing" and records, per payment, how many polls it got and whether a poll arrived while
another poll of the same payment was still being answered (an overlap). The payments are
written straight into a fresh database, already stale (older than PAYHUB_POLL_AFTER, younger
than PAYHUB_EXPIRE_AFTER: polled, not expired). Then:

1. one process sweeps the backlog once: how long it took, polls/s;
2. the backlog is made due again and two processes sweep the same database at the same moment:
   each one's polls and polls/s, and the proof that no payment was polled twice at once.

Each sweeper is a child process that runs `payhub.scheduler.sweep()` the way `python app.py`
runs it (eventlet monkey-patched unless `--async-mode threading`).

    .venv/bin/python bench/sweep.py                    # 10,000 payments, SQLite (the lead's figures)
    .venv/bin/python bench/sweep.py --postgres         # on PostgreSQL 127.0.0.1 (a fresh schema)
    .venv/bin/python bench/sweep.py --noisy            # a brief run on a shared machine: 2,000 payments
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TARGET_POLLS_PER_S = 170
BUSY_PERCENT = 15  # CPU of other processes, in % of one core, above which a run is called noisy
POLL_AFTER, EXPIRE_AFTER, AGE = 60, 3600, 120  # seconds; every payment is AGE old


# -- the fake gateway ---------------------------------------------------------------------------
class FakeGateway:
    """The sandbox status API (GET /status/<transaction_id>) on aiohttp, in a thread of its own."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.polls: Counter[str] = Counter()
        self.overlaps: list[str] = []
        self.in_flight_peak = 0
        self._in_flight: Counter[str] = Counter()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    def start(self) -> FakeGateway:
        threading.Thread(target=self._serve, daemon=True, name="fake-gateway").start()
        self._ready.wait(10)
        return self

    def reset(self) -> None:
        self.polls.clear()
        self.overlaps.clear()
        self.in_flight_peak = 0

    def _serve(self) -> None:
        from aiohttp import web

        async def status(request: web.Request) -> web.Response:
            txn = request.match_info["txn"]
            if self._in_flight[txn]:
                self.overlaps.append(txn)
            self._in_flight[txn] += 1
            self.polls[txn] += 1
            self.in_flight_peak = max(self.in_flight_peak, sum(self._in_flight.values()))
            try:
                await asyncio.sleep(self.latency)
            finally:
                self._in_flight[txn] -= 1
            return web.json_response({"transaction_id": txn, "status": "processing", "amount": 1000})

        async def main() -> None:
            app = web.Application()
            app.router.add_get("/status/{txn}", status)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await asyncio.Event().wait()

        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(main())


# -- the database -------------------------------------------------------------------------------
def hub_env(database_url: str, gateway_url: str, folder: Path) -> dict[str, str]:
    return {
        "PAYHUB_DATABASE_URL": database_url, "PAYHUB_SANDBOX_BASE_URL": gateway_url,
        "PAYHUB_INSTANCE_PATH": str(folder), "PAYHUB_SCHEDULER": "0",
        "PAYHUB_API_KEY": "bench-api-key", "PAYHUB_SECRET_KEY": "bench-secret-key",
        "PAYHUB_SANDBOX_WEBHOOK_SECRET": "bench-sandbox-secret",
        "PAYHUB_POLL_AFTER": str(POLL_AFTER), "PAYHUB_EXPIRE_AFTER": str(EXPIRE_AFTER),
        "PAYHUB_SWEEP_INTERVAL": "60", "PAYHUB_LOG_LEVEL": "WARNING",
    }


def seed(env: dict[str, str], count: int) -> None:
    """`count` opened sandbox payments, AGE seconds old and due, in the (migrated) database."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import insert

    from payhub import create_app
    from payhub.extensions import db
    from payhub.models import Payment

    app = create_app(env)
    created = datetime.now(UTC) - timedelta(seconds=AGE)
    rows = [{
        "id": f"pay_bench_{i:06d}", "order_id": f"bench-{i:06d}", "gateway": "sandbox", "amount": 1000,
        "currency": "INR", "status": "pending", "version": 1, "final": False, "customer": {}, "meta": {},
        "checkout": {"redirect_url": "http://127.0.0.1/checkout"}, "request_fingerprint": "0" * 64,
        "gateway_order_id": f"txn_{i:06d}", "created_at": created, "updated_at": created,
        "expires_at": created + timedelta(seconds=EXPIRE_AFTER),
        "next_poll_at": created + timedelta(seconds=POLL_AFTER),
    } for i in range(count)]
    with app.app_context():
        for start in range(0, count, 2000):
            db.session.execute(insert(Payment), rows[start:start + 2000])
        db.session.commit()
        db.engine.dispose()


def make_due_again(env: dict[str, str]) -> None:
    """Every payment due again (as after the next interval), for the two-process run."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import update

    from payhub import create_app
    from payhub.extensions import db
    from payhub.models import Payment

    app = create_app(env)
    with app.app_context():
        db.session.execute(update(Payment).values(
            next_poll_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
        db.engine.dispose()


def new_postgres_schema() -> tuple[str, Any]:
    import psycopg

    base = os.environ.get("PAYHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    conninfo = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{base}?options=-csearch_path%3D{schema}", drop


# -- the sweepers -------------------------------------------------------------------------------
def run_sweepers(env: dict[str, str], processes: int, async_mode: str) -> list[dict[str, Any]]:
    """`processes` child processes that each run one sweep, all starting at the same moment."""
    start_at = time.time() + 4  # time for every child to import and build its app first
    children = [subprocess.Popen(
        [sys.executable, __file__, "--worker", json.dumps({"env": env, "start_at": start_at,
                                                            "async_mode": async_mode})],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) for _ in range(processes)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=900)
        if child.returncode != 0:
            raise RuntimeError(f"a sweeper failed ({child.returncode}):\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def worker(spec: dict[str, Any]) -> None:
    """One sweeper process, set up as `python app.py` sets up the server (importing app.py
    monkey-patches for eventlet and makes psycopg wait greenly; then the WAL checkpoint thread
    and the GC tuning), which then waits for the start and sweeps once."""
    import logging
    import resource

    os.environ["PAYHUB_ASYNC_MODE"] = spec["async_mode"]
    sys.path.insert(0, str(ROOT))
    import app as server

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from payhub.scheduler import sweep

    app = server.create_app(spec["env"], async_mode=spec["async_mode"])
    with app.app_context():
        server.checkpoint.start(server.db.engine)
    server.gc_tuning.after_startup()
    time.sleep(max(0.0, spec["start_at"] - time.time()))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with app.app_context():
        report = sweep()
    seconds = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({
        "pid": os.getpid(), "seconds": round(seconds, 2), "polled": len(report.polled),
        "unanswered": len(report.unanswered), "expired": len(report.expired),
        "polls_per_s": round(len(report.polled) / seconds, 1) if seconds else None,
        "peak_concurrency": report.peak_concurrency, "cpu_percent": round(100 * cpu / seconds) if seconds else None,
    }))


# -- the run ------------------------------------------------------------------------------------
def machine_busy() -> float:
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0)


def measured(label: str, env: dict[str, str], gateway: FakeGateway, processes: int, args: argparse.Namespace,
             payments: int) -> dict[str, Any]:
    import psutil

    gateway.reset()
    me = psutil.Process()
    busy0, mine0, t0 = machine_busy(), sum(me.cpu_times()[:2]), time.perf_counter()
    print(f"{label}: {processes} process(es) sweeping {payments} payments ...", file=sys.stderr, flush=True)
    sweepers = run_sweepers(env, processes, args.async_mode)
    elapsed = time.perf_counter() - t0
    machine = 100 * (machine_busy() - busy0) / elapsed
    mine = 100 * (sum(me.cpu_times()[:2]) - mine0) / elapsed
    # CPU of the sweepers is only known for their sweep; spread over the whole phase here.
    swept = sum(s["cpu_percent"] * s["seconds"] for s in sweepers) / elapsed
    others = max(0.0, machine - mine - swept - 100 * 0.5 * processes / elapsed)  # minus ~0.5 s start each
    return {
        "processes": processes, "sweepers": sweepers,
        "polled_total": sum(s["polled"] for s in sweepers),
        "gateway_polls": sum(gateway.polls.values()), "payments_polled": len(gateway.polls),
        "max_polls_per_payment": max(gateway.polls.values(), default=0),
        "overlapping_polls": len(gateway.overlaps), "gateway_in_flight_peak": gateway.in_flight_peak,
        "others_cpu_percent": round(others), "noisy": others > BUSY_PERCENT,
    }


def table(args: argparse.Namespace, runs: dict[str, dict[str, Any]], payments: int) -> str:
    lines = [f"sweep benchmark: {payments} stale payments, gateway latency {args.latency * 1000:.0f} ms, "
             f"{'PostgreSQL' if args.postgres else 'SQLite'}, async mode {args.async_mode}", ""]
    lines.append(f"{'run':<10} {'proc':>4} {'polled':>7} {'seconds':>8} {'polls/s':>8} {'peak':>5} "
                 f"{'cpu%':>5} {'no answer':>9}")
    for name, run in runs.items():
        for s in run["sweepers"]:
            lines.append(f"{name:<10} {s['pid']:>4} {s['polled']:>7} {s['seconds']:>8.2f} {s['polls_per_s']:>8.1f} "
                         f"{s['peak_concurrency']:>5} {s['cpu_percent']:>5} {s['unanswered']:>9}")
    lines.append("")
    for name, run in runs.items():
        lines.append(f"{name}: gateway saw {run['gateway_polls']} polls of {run['payments_polled']} payments, "
                     f"at most {run['max_polls_per_payment']} per payment, {run['overlapping_polls']} overlapping, "
                     f"{run['gateway_in_flight_peak']} in flight at most; others' CPU {run['others_cpu_percent']}%"
                     + (" (NOISY: run again on a quiet machine)" if run["noisy"] else ""))
    single = runs["single"]["sweepers"][0]
    both = runs["double"]
    checks = {
        f"one process >= {TARGET_POLLS_PER_S} polls/s": single["polls_per_s"] >= TARGET_POLLS_PER_S,
        "every payment polled in one sweep": single["polled"] == payments and single["unanswered"] == 0,
        "two processes: each payment polled once, never twice at once":
            both["overlapping_polls"] == 0 and both["max_polls_per_payment"] == 1
            and both["payments_polled"] == payments and both["polled_total"] == payments,
    }
    lines.append("")
    lines += [f"{'PASS' if ok else 'MISS'}  {what}" for what, ok in checks.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=None, help="stale payments (default 10,000; --noisy 2,000)")
    parser.add_argument("--latency", type=float, default=0.1, help="the gateway's answer time in seconds")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL on 127.0.0.1 instead of SQLite")
    parser.add_argument("--async-mode", choices=("eventlet", "threading"), default="eventlet")
    parser.add_argument("--noisy", action="store_true", help="a brief run while others share the machine")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, logs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    payments = args.payments or (2000 if args.noisy else 10_000)
    folder = Path(tempfile.mkdtemp(prefix="payhub-sweep-bench-"))
    drop = None
    try:
        gateway = FakeGateway(args.latency).start()
        if args.postgres:
            url, drop = new_postgres_schema()
        else:
            url = f"sqlite:///{folder / 'payhub.db'}"
        env = hub_env(url, gateway.url, folder)
        print(f"seeding {payments} stale payments ...", file=sys.stderr, flush=True)
        seed(env, payments)
        runs = {"single": measured("single", env, gateway, 1, args, payments)}
        make_due_again(env)
        runs["double"] = measured("double", env, gateway, 2, args, payments)
        print(table(args, runs, payments))
        results = BENCH / "results"
        results.mkdir(exist_ok=True)
        path = results / f"sweep-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        path.write_text(json.dumps({"args": vars(args), "payments": payments, "runs": runs}, indent=2))
        print(f"\n(JSON: {path.relative_to(ROOT)})", file=sys.stderr)
    finally:
        if drop is not None:
            drop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
