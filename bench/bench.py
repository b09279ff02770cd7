"""Benchmark PayHub against a naive Flask-SocketIO baseline (issue 2). See bench/README.md.

    .venv/bin/python bench/bench.py                 # both targets, defaults (~2-3 minutes)
    .venv/bin/python bench/bench.py --target hub --idle 0

Every server is a child process on 127.0.0.1 with a fresh database in a temporary folder;
all of them are stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from idle import idle_test
from load import PushLog, close_all, jobs_for, saturate, steady, subscribe_all
from report import phase, table, verdicts
from servers import BENCH, BaselineTarget, HubTarget, MachineCpu, Sampler

STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=200, help="websocket subscribers during the load")
    parser.add_argument("--callbacks", type=int, default=5000, help="callbacks in the saturation phase")
    parser.add_argument("--concurrency", type=int, default=32, help="callbacks in flight in the saturation phase")
    parser.add_argument("--rate", type=float, default=200, help="callbacks/s in the steady phase (0: skip it)")
    parser.add_argument("--steady-seconds", type=float, default=10, help="length of the steady phase")
    parser.add_argument("--warmup", type=int, default=200, help="callbacks before the timed phases (not counted)")
    parser.add_argument("--grace", type=float, default=5, help="seconds to wait for late pushes before 'lost'")
    parser.add_argument("--idle", type=int, default=10000, help="idle connections held by the hub (0: skip)")
    parser.add_argument("--idle-hold", type=float, default=10, help="seconds to hold the idle connections")
    parser.add_argument("--target", choices=("hub", "baseline", "both"), default="both")
    parser.add_argument("--baseline-sqlite", choices=("hub", "default"), default="hub",
                        help="baseline's SQLite: the hub's settings (WAL, synchronous=NORMAL) or SQLite's defaults")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders (databases, logs)")
    return parser.parse_args(argv)


async def run_target(target: Any, args: argparse.Namespace) -> dict[str, Any]:
    steady_count = int(args.rate * args.steady_seconds) if args.rate > 0 else 0
    count = args.warmup + args.callbacks + steady_count
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        pays = await target.payments(session, count)
        out["payments_created"], out["create_seconds"] = len(pays), round(time.perf_counter() - started, 1)
        say(f"{target.name}: {len(pays)} payments ready in {out['create_seconds']} s; subscribing")
        log = PushLog()
        subscribers = await subscribe_all(session, target.url, pays, args.subscribers, log)
        warm, hot, calm = pays[:args.warmup], pays[args.warmup:args.warmup + args.callbacks], pays[-steady_count:]
        url = target.url + target.callback_path
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as senders:
            await saturate(senders, url, jobs_for(warm, target.secret), args.concurrency, log)
            await log.wait_for([p.id for p in warm], args.grace)
            say(f"{target.name}: saturation, {len(hot)} callbacks at concurrency {args.concurrency}")
            jobs = jobs_for(hot, target.secret)
            with Sampler(target.pid) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
                sent = await saturate(senders, url, jobs, args.concurrency, log)
                waited = await log.wait_for([p.id for p in hot], args.grace)
            out["saturation"] = phase(sent, log, [p.id for p in hot], server, driver, machine, waited)
        if steady_count:
            say(f"{target.name}: steady, {steady_count} callbacks at {args.rate:g}/s")
            jobs = jobs_for(calm, target.secret)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as senders:
                with Sampler(target.pid) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
                    sent = await steady(senders, url, jobs, args.rate, log)
                    waited = await log.wait_for([p.id for p in calm], args.grace)
            out["steady"] = phase(sent, log, [p.id for p in calm], server, driver, machine, waited)
            out["steady"]["rate_asked"] = args.rate
        out["duplicate_pushes"], out["unexpected_pushes"] = log.duplicates, log.unexpected
        await close_all(subscribers)
        if target.name == "hub" and args.idle > 0:
            say(f"hub: idle test, {args.idle} connections held {args.idle_hold:g} s")
            out["idle"] = await idle_test(session, target, args.idle, args.idle_hold, pays)
    return out


def raise_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # so that the finally blocks stop the servers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_file_limit()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    folder = Path(tempfile.mkdtemp(prefix="payhub-bench-"))
    names = ["baseline", "hub"] if args.target == "both" else [args.target]
    results: dict[str, Any] = {}
    try:
        for name in names:
            target = HubTarget(folder / name) if name == "hub" else BaselineTarget(folder / name, args.baseline_sqlite)
            steady_count = int(args.rate * args.steady_seconds) if args.rate > 0 else 0
            say(f"{name}: starting")
            target.start(args.warmup + args.callbacks + steady_count)
            try:
                results[name] = asyncio.run(run_target(target, args))
            finally:
                target.stop()
    except KeyboardInterrupt:
        say("interrupted; servers stopped")
        return 130
    finally:
        if args.keep:
            say(f"servers' folders kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    idle = results.get("hub", {}).pop("idle", None)
    checks = verdicts(results, idle)
    print(table(args, results, idle, checks))
    path = write_json(args, results, idle, checks)
    say(f"done; JSON in {path.relative_to(BENCH.parent)}")
    return 0


def write_json(args: argparse.Namespace, results: dict[str, Any], idle: Any, checks: dict[str, Any]) -> Path:
    folder = BENCH / "results"
    folder.mkdir(exist_ok=True)
    path = folder / time.strftime("bench-%Y%m%d-%H%M%S.json")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    document = {"args": vars(args), "machine": machine, "results": results, "idle": idle, "targets": checks,
                "wall_seconds": round(time.perf_counter() - STARTED, 1)}
    path.write_text(json.dumps(document, indent=2))
    return path


if __name__ == "__main__":
    sys.exit(main())
