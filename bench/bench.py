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
from load import PushLog, add_subscribers, close_all, jobs_for, saturate, steady, subscribe_all
from report import create_figures, median_rounds, phase, table, verdicts
from servers import BENCH, BaselineTarget, HubTarget, MachineCpu, Sampler, gc_figures, gc_pauses

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
    parser.add_argument("--wide-subscribers", type=int, default=1000,
                        help="a second steady phase with this many subscribers connected (0: skip it)")
    parser.add_argument("--create-concurrency", type=int, default=8,
                        help="creates in flight while the hub's payments are made (the create measurement)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds per target, alternating the targets; the table shows medians")
    parser.add_argument("--warmup", type=int, default=200, help="callbacks before the timed phases (not counted)")
    parser.add_argument("--grace", type=float, default=5, help="seconds to wait for late pushes before 'lost'")
    parser.add_argument("--idle", type=int, default=10000, help="idle connections held by the hub (0: skip)")
    parser.add_argument("--idle-hold", type=float, default=10, help="seconds to hold the idle connections")
    parser.add_argument("--target", choices=("hub", "baseline", "both"), default="both")
    parser.add_argument("--baseline-sqlite", choices=("hub", "default"), default="hub",
                        help="baseline's SQLite: the hub's settings (WAL, synchronous=NORMAL) or SQLite's defaults")
    parser.add_argument("--hub-env", action="append", default=[], metavar="PAYHUB_NAME=VALUE",
                        help="a setting for the hub (repeatable), e.g. PAYHUB_GROUP_COMMIT=0 to compare")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders (databases, logs)")
    return parser.parse_args(argv)


def counts(args: argparse.Namespace) -> dict[str, int]:
    """How many payments each phase uses (each callback settles a different pending payment)."""
    steady_count = int(args.rate * args.steady_seconds) if args.rate > 0 else 0
    wide = steady_count if args.wide_subscribers > args.subscribers else 0
    return {"warmup": args.warmup, "saturation": args.callbacks, "steady": steady_count, "wide": wide}


async def run_target(target: Any, args: argparse.Namespace) -> dict[str, Any]:
    sizes = counts(args)
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        pays = await make_payments(target, session, sum(sizes.values()), args, out)
        parts, start = [], 0
        for size in sizes.values():
            parts.append(pays[start:start + size])
            start += size
        warm, hot, calm, wide = parts
        log = PushLog()
        subscribers = await subscribe_all(session, target.url, [*warm, *hot, *calm], args.subscribers, log)
        url = target.url + target.callback_path
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as senders:
            await saturate(senders, url, jobs_for(warm, target.secret), args.concurrency, log)
            await log.wait_for([p.id for p in warm], args.grace)
            say(f"{target.name}: saturation, {len(hot)} callbacks at concurrency {args.concurrency}")
            jobs = jobs_for(hot, target.secret)
            gc_before = await gc_pauses(target, session)
            with Sampler(target.pid) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
                sent = await saturate(senders, url, jobs, args.concurrency, log)
                waited = await log.wait_for([p.id for p in hot], args.grace)
            out["saturation"] = phase(sent, log, [p.id for p in hot], server, driver, machine, waited)
            out["saturation"]["gc"] = gc_figures(gc_before, await gc_pauses(target, session))
        if calm:
            say(f"{target.name}: steady, {len(calm)} callbacks at {args.rate:g}/s, {args.subscribers} subscribers")
            out["steady"] = await steady_phase(target, session, url, calm, args, log)
        if wide:
            subscribers = await add_subscribers(session, target.url, subscribers, wide, args.wide_subscribers, log)
            await asyncio.sleep(1)  # let the connects settle before the clock starts
            say(f"{target.name}: steady, {len(wide)} callbacks at {args.rate:g}/s, {len(subscribers)} subscribers")
            out["steady_wide"] = await steady_phase(target, session, url, wide, args, log)
        out["duplicate_pushes"], out["unexpected_pushes"] = log.duplicates, log.unexpected
        await close_all(subscribers)
        if target.name == "hub" and args.idle > 0:
            say(f"hub: idle test, {args.idle} connections held {args.idle_hold:g} s")
            out["idle"] = await idle_test(session, target, args.idle, args.idle_hold, pays)
    return out


async def make_payments(target: Any, session: aiohttp.ClientSession, count: int, args: argparse.Namespace,
                        out: dict[str, Any]) -> list[Any]:
    """The payments every phase settles. For the hub this is the create measurement: `count`
    sandbox creates through its merchant API, `--create-concurrency` at a time."""
    if target.name != "hub":
        return await target.payments(session, count)
    rtts: list[float] = []
    with Sampler(target.pid) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
        started = time.perf_counter()
        pays = await target.payments(session, count, args.create_concurrency, rtts)
        seconds = time.perf_counter() - started
    out["create"] = create_figures(len(pays), seconds, sorted(rtts), server, driver, machine)
    say(f"hub: {len(pays)} payments created in {seconds:.1f} s ({out['create']['creates_per_s']}/s)")
    return pays


async def steady_phase(target: Any, session: aiohttp.ClientSession, url: str, pays: list[Any],
                       args: argparse.Namespace, log: PushLog) -> dict:
    jobs = jobs_for(pays, target.secret)
    gc_before = await gc_pauses(target, session)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as senders:
        with Sampler(target.pid) as server, Sampler(os.getpid()) as driver, MachineCpu() as machine:
            sent = await steady(senders, url, jobs, args.rate, log)
            waited = await log.wait_for([p.id for p in pays], args.grace)
    figures = phase(sent, log, [p.id for p in pays], server, driver, machine, waited)
    return figures | {"rate_asked": args.rate, "gc": gc_figures(gc_before, await gc_pauses(target, session))}


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
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    idle: dict[str, Any] | None = None
    try:
        for number in range(args.rounds):
            # Alternate which target goes first, so a drift in the machine's load favours neither.
            for name in names if number % 2 == 0 else names[::-1]:
                result = run_once(name, folder / f"{name}{number}", args, number)
                idle = result.pop("idle", None) or idle
                rounds[name].append(result)
    except KeyboardInterrupt:
        say("interrupted; servers stopped")
        return 130
    finally:
        if args.keep:
            say(f"servers' folders kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results = {name: median_rounds(done) for name, done in rounds.items()}
    checks = verdicts(results, idle)
    print(table(args, results, idle, checks))
    path = write_json(args, results, rounds, idle, checks)
    say(f"done; JSON in {path.relative_to(BENCH.parent)}")
    return 0


def run_once(name: str, folder: Path, args: argparse.Namespace, number: int) -> dict:
    """One round on a freshly started target; the idle test runs only after the last round."""
    env = dict(item.split("=", 1) for item in args.hub_env)
    target = HubTarget(folder, env) if name == "hub" else BaselineTarget(folder, args.baseline_sqlite)
    say(f"{name}: starting (round {number + 1} of {args.rounds})")
    target.start(sum(counts(args).values()))
    options = argparse.Namespace(**{**vars(args), "idle": args.idle if number == args.rounds - 1 else 0})
    try:
        return asyncio.run(run_target(target, options))
    finally:
        target.stop()


def write_json(args: argparse.Namespace, results: dict[str, Any], rounds: dict[str, Any], idle: Any,
               checks: dict[str, Any]) -> Path:
    folder = BENCH / "results"
    folder.mkdir(exist_ok=True)
    path = folder / time.strftime("bench-%Y%m%d-%H%M%S.json")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    document = {"args": vars(args), "machine": machine, "results": results, "rounds": rounds, "idle": idle,
                "targets": checks,
                "wall_seconds": round(time.perf_counter() - STARTED, 1)}
    path.write_text(json.dumps(document, indent=2))
    return path


if __name__ == "__main__":
    sys.exit(main())
