"""Cluster benchmark (issue 9): callbacks/s and push latency through nginx for 1, 2 and 3 web
processes on PostgreSQL + Redis (scripts/cluster.sh), beside one process on SQLite; and the
lock-stall figure. See bench/README.md.

    .venv/bin/python bench/cluster.py                      # ~3 minutes
    .venv/bin/python bench/cluster.py --quick              # a short look (noisy machine)
    .venv/bin/python bench/cluster.py --webs 1,3 --callbacks 4000

Everything runs on 127.0.0.1: each cluster in a temporary folder with its own PostgreSQL
database (dropped afterwards), stopped on exit, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import psycopg
from load import PushLog, close_all, jobs_for, saturate, subscribe_all
from report import BUSY_PERCENT, percentile, phase
from servers import BENCH, ROOT, HubTarget, MachineCpu, Sampler, signed_callback

from tests.livehub import API_KEY, SANDBOX_SECRET, SECRET_KEY, free_port, free_run

PG = os.environ.get("PAYHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("PAYHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Group:
    """Samplers of several processes, summed (RSS and CPU of the whole cluster's PayHub side)."""

    def __init__(self, pids: list[int]) -> None:
        self._samplers = [Sampler(pid) for pid in pids]

    def __enter__(self) -> Group:
        for sampler in self._samplers:
            sampler.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        for sampler in self._samplers:
            sampler.__exit__(*exc)
        self.peak_rss = sum(s.peak_rss for s in self._samplers)
        self.cpu_percent = sum(s.cpu_percent for s in self._samplers)


class ClusterTarget:
    """scripts/cluster.sh with N web processes on a fresh PostgreSQL database and Redis."""

    callback_path = "/webhooks/sandbox"
    secret = SANDBOX_SECRET
    payments = HubTarget.payments

    def __init__(self, folder: Path, webs: int) -> None:
        self.name, self.webs, self.folder = f"postgres x{webs}", webs, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = f"bench_{uuid.uuid4().hex[:10]}"
        self._hub = SimpleNamespace(headers={"Authorization": f"Bearer {API_KEY}"})
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | {
            "CLUSTER_PORT": str(self.port), "CLUSTER_WEB_PORT": str(free_run(webs)),
            "CLUSTER_DIR": str(folder), "PAYHUB_DATABASE_URL": f"{PG.rsplit('/', 1)[0]}/{self.database}",
            "PAYHUB_MESSAGE_QUEUE": REDIS, "PAYHUB_API_KEY": API_KEY, "PAYHUB_SECRET_KEY": SECRET_KEY,
            "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
            "PAYHUB_RATE_LIMITS": "0",  # the load comes from 127.0.0.1 only (README "Security")
        }

    def _admin(self, sql: str) -> None:
        with psycopg.connect(PG.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute(sql)

    def start(self, rows: int = 0) -> None:
        self._admin(f"CREATE DATABASE {self.database}")
        done = subprocess.run(["bash", "scripts/cluster.sh", "start", str(self.webs)], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"cluster.sh start failed:\n{done.stdout}{done.stderr}")
        # The PayHub side: web processes, the worker and nginx (PostgreSQL and Redis count as the rest).
        files = [*sorted(self.folder.glob("web*.pid")), self.folder / "worker.pid", self.folder / "nginx" / "nginx.pid"]
        self.pids = [int(p.read_text()) for p in files]

    def stop(self) -> None:
        subprocess.run(["bash", "scripts/cluster.sh", "stop"], cwd=ROOT, env=self.env, capture_output=True,
                       timeout=120)
        self._admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


class SqliteTarget(HubTarget):
    name = "sqlite x1"

    def start(self, rows: int = 0) -> None:
        super().start(rows)
        self.pids = [self.pid]


async def measure(target: Any, args: argparse.Namespace) -> dict[str, Any]:
    count = args.warmup + args.callbacks
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        pays = await target.payments(session, count)
        log = PushLog()
        subscribers = await subscribe_all(session, target.url, pays, args.subscribers, log)
        warm, hot = pays[:args.warmup], pays[args.warmup:]
        url = target.url + target.callback_path
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as senders:
            await saturate(senders, url, jobs_for(warm, target.secret), args.concurrency, log)
            await log.wait_for([p.id for p in warm], 5)
            jobs = jobs_for(hot, target.secret)
            with Group(target.pids) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
                sent = await saturate(senders, url, jobs, args.concurrency, log)
                waited = await log.wait_for([p.id for p in hot], 5)
        await close_all(subscribers)
    return phase(sent, log, [p.id for p in hot], server, driver, machine, waited)


async def lock_stall(target: ClusterTarget, hold: float = 3.0) -> dict[str, Any]:
    """Hold one payment's row lock from outside for `hold` s, send its callback, and meanwhile
    time /healthz and other payments' callback-to-push through the same (single) web process."""
    async with aiohttp.ClientSession() as session:
        locked, *others = await target.payments(session, 21)
        log = PushLog()
        subscribers = await subscribe_all(session, target.url, others, 1, log)
        conninfo = target.env["PAYHUB_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        healthz: list[float] = []
        with psycopg.connect(conninfo) as lock:
            lock.execute("SELECT id FROM payments WHERE id = %s FOR UPDATE", (locked.id,))
            held = time.perf_counter()
            body, headers = signed_callback(SANDBOX_SECRET, locked.txn)

            async def send_locked() -> int:
                async with session.post(target.url + target.callback_path, data=body, headers=headers) as answer:
                    await answer.read()
                    return answer.status

            blocked = asyncio.create_task(send_locked())
            await asyncio.sleep(0.3)
            for pay in others:
                if time.perf_counter() - held > hold - 0.2:
                    break
                start = time.perf_counter()
                async with session.get(f"{target.url}/healthz") as answer:
                    await answer.read()
                healthz.append(1000 * (time.perf_counter() - start))
                body, headers = signed_callback(SANDBOX_SECRET, pay.txn)
                log.sent[pay.id] = time.perf_counter()
                async with session.post(target.url + target.callback_path, data=body, headers=headers) as answer:
                    await answer.read()
                await log.wait_for([pay.id], 5)
            await asyncio.sleep(max(0.0, hold - (time.perf_counter() - held)))
            lock.rollback()
        status = await blocked
        waited = time.perf_counter() - held
        await close_all(subscribers)
    pushes = log.latencies_ms([p.id for p in others])
    return {"held_s": hold, "locked_callback_status": status, "locked_callback_s": round(waited, 2),
            "healthz_ms": {"p50": percentile(sorted(healthz), 50), "max": percentile(sorted(healthz), 100)},
            "push_ms": {"p50": percentile(pushes, 50), "max": percentile(pushes, 100)}, "samples": len(pushes)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webs", default="1,2,3", help="web process counts to measure on PostgreSQL")
    parser.add_argument("--callbacks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the one-process SQLite reference")
    parser.add_argument("--no-stall", action="store_true", help="skip the lock-stall figure")
    parser.add_argument("--quick", action="store_true", help="600 callbacks each: a short look, not figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.callbacks, args.warmup = 600, 100
    return args


def row(name: str, figures: dict[str, Any], base: float | None) -> str:
    rate = figures["callbacks_per_s"]
    ratio = f"{rate / base:.2f}" if base and rate else "-"
    noisy = " NOISY" if figures["busy_before_percent"] > BUSY_PERCENT else ""
    push = figures["push_ms"]
    return (f"| {name} | {rate} | {ratio} | {push['p50']} / {push['p99']} | {figures['lost']} | "
            f"{figures['server_cpu_percent']}% | {figures['others_cpu_percent']}% | "
            f"{figures['busy_before_percent']}%{noisy} |")


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # so that the finally blocks stop the clusters


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    folder = Path(tempfile.mkdtemp(prefix="payhub-cluster-bench-"))
    results: dict[str, Any] = {}
    targets: list[Any] = [] if args.no_sqlite else [SqliteTarget(folder / "sqlite")]
    targets += [ClusterTarget(folder / f"pg{n}", int(n)) for n in args.webs.split(",")]
    try:
        for target in targets:
            with MachineCpu() as before:  # what other sessions use while nothing of ours runs
                time.sleep(2)
            say(f"{target.name}: starting (machine busy {before.cpu_percent:.0f}% of a core beforehand)")
            target.start(0)
            try:
                say(f"{target.name}: {args.callbacks} callbacks at concurrency {args.concurrency} through "
                    f"{'nginx' if isinstance(target, ClusterTarget) else 'the process'}")
                results[target.name] = asyncio.run(measure(target, args))
                results[target.name]["busy_before_percent"] = round(before.cpu_percent)
                if isinstance(target, ClusterTarget) and target.webs == 1 and not args.no_stall:
                    say("lock stall: a row locked 3 s from outside")
                    results["lock stall"] = asyncio.run(lock_stall(target))
            finally:
                target.stop()
    except KeyboardInterrupt:
        say("interrupted; everything stopped")
        return 130
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = results.get("postgres x1", {}).get("callbacks_per_s")
    print(f"\n{args.callbacks} callbacks at concurrency {args.concurrency}, {args.subscribers} websocket subscribers "
          f"(through nginx for the clusters), {os.cpu_count()} cores\n")
    print("| target | callbacks/s | vs postgres x1 | push p50 / p99 ms | lost | PayHub CPU | rest of machine | "
          "busy before |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, figures in results.items():
        if name != "lock stall":
            print(row(name, figures, base))
    if "lock stall" in results:
        stall = results["lock stall"]
        print(f"\nlock stall: row locked {stall['held_s']} s; its callback answered {stall['locked_callback_status']} "
              f"after {stall['locked_callback_s']} s; meanwhile /healthz p50/max {stall['healthz_ms']['p50']}/"
              f"{stall['healthz_ms']['max']} ms, other payments' push p50/max {stall['push_ms']['p50']}/"
              f"{stall['push_ms']['max']} ms ({stall['samples']} samples)")
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    path = out / time.strftime("cluster-%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    say(f"done; JSON in {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
