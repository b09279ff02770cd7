"""Load under attack (issue 8): does a flood of abuse from visitors without a key hurt the
merchants' real traffic?

One `python app.py` (eventlet, SQLite) behind a pretend proxy (PAYHUB_TRUSTED_PROXIES=1, so the
driver can speak for many client addresses through X-Forwarded-For), with the default limits.
Three loads at once for --seconds:

- held long polls: --long-polls clients (1,000), each from its own address, each holding
  `GET /api/payments/<id>/status?wait=30` on a payment with its current ETag, and asking again
  as soon as it is answered;
- abuse: --abuse requests/s (200), open loop, from --attackers addresses: the demo shop asked
  for real gateways and junk items, Razorpay's unsigned failure return for real and unknown
  orders (50 KB of fields), forged signed returns, junk Paytm returns;
- the merchant's real traffic: --rate signed sandbox callbacks/s (100), open loop, each
  succeeding a different pending payment, with Socket.IO subscribers on those payments.

It prints the callbacks' round trip p50/p95/p99 and their pushes' arrival, every answer by
status class (no 5xx anywhere), the long polls held (from /metrics) and woken, and the rows the
abuse added to the database (must be 0). Targets: callback p99 < 50 ms, every push arrives,
no 5xx, no growth.

    .venv/bin/python bench/attack.py              # 20 s of attack, ~1.5 minutes in all
    .venv/bin/python bench/attack.py --quick      # a short look on a noisy machine (6 s)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from servers import ROOT, Pay, signed_callback
from sioclient import SioClient

sys.path.insert(0, str(ROOT))
from tests.livehub import SANDBOX_SECRET, LiveHub

TIMELINE: list[tuple[float, float]] = []  # (sent at, round trip ms) of every acknowledged callback
TABLES = ("payments", "payment_events", "sandbox_transactions", "outbox_messages", "operator_sessions")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-polls", type=int, default=1000, help="held long polls")
    parser.add_argument("--abuse", type=float, default=200, help="abusive unauthenticated requests/s")
    parser.add_argument("--attackers", type=int, default=20, help="client addresses the abuse comes from")
    parser.add_argument("--rate", type=float, default=100, help="signed callbacks/s (the real traffic)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the attack")
    parser.add_argument("--woken-every", type=int, default=10,
                        help="one long poll in this many waits on a payment the callbacks pay (1: all of them)")
    parser.add_argument("--subscribers", type=int, default=50, help="Socket.IO clients watching the callbacks")
    parser.add_argument("--grace", type=float, default=5, help="seconds to wait for late pushes")
    parser.add_argument("--quick", action="store_true", help="a short look for a noisy machine: 6 s of attack")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra PAYHUB_* setting for the hub (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the hub's folder (database, log)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 6)
    return args


def percentile(ordered: list[float], p: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def address(prefix: str, i: int) -> str:
    return f"{prefix}.{i // 250 % 250}.{i % 250 + 1}"


class Tally:
    """Answers by who sent them and their status class."""

    def __init__(self) -> None:
        self.by: dict[str, Counter] = {}

    def add(self, who: str, status: int | str) -> None:
        key = f"{status // 100}xx" if isinstance(status, int) else status
        self.by.setdefault(who, Counter())[key] += 1

    def fives(self) -> int:
        return sum(c.get("5xx", 0) for c in self.by.values())


def rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def held(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(f"{url}/metrics") as answer:
        text = await answer.text()
    line = next((x for x in text.splitlines() if x.startswith("payhub_long_polls_held ")), "x 0")
    return float(line.split()[1])


async def create(session: aiohttp.ClientSession, hub: LiveHub, count: int) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            body = {"order_id": f"atk_{uuid.uuid4().hex[:16]}", "amount": 1000, "currency": "INR", "gateway": "sandbox"}
            async with session.post(f"{hub.url}/api/payments", json=body, headers=hub.headers) as answer:
                if answer.status != 201:
                    raise RuntimeError(f"create refused: {answer.status} {await answer.text()}")
                made.append(await answer.json())

    await asyncio.gather(*(worker() for _ in range(8)))
    return made


async def long_poller(session: aiohttp.ClientSession, url: str, payment: dict[str, Any], i: int,
                      until: float, tally: Tally, woken: Counter) -> None:
    version = payment["version"]
    headers = {"X-Payhub-Token": payment["subscribe_token"], "X-Forwarded-For": address("10.1", i)}
    while time.perf_counter() < until:
        headers["If-None-Match"] = f'"{payment["id"]}.v{version}"'
        try:
            async with session.get(f"{url}/api/payments/{payment['id']}/status", params={"wait": "30"},
                                   headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as answer:
                tally.add("long poll", answer.status)
                if answer.status == 200:
                    version = (await answer.json())["version"]
                    woken["woken"] += 1
                elif answer.status == 429:
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.add("long poll", type(exc).__name__)
            await asyncio.sleep(0.5)


def abusive_requests(payments: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, aiohttp keyword arguments) of every kind of abuse, to be drawn at random."""
    known = [p["gateway_order_id"] for p in payments[:50]]
    padding = {f"error[field{k}]": "x" * 500 for k in range(100)}  # ~50 KB of unsigned fields
    kinds: list[tuple[str, str, dict[str, Any]]] = []
    for gateway in ("stripe", "razorpay", "paytm", "payatom"):  # issue 8 item 2's attack
        kinds.append(("POST", "/shop/orders", {"data": {"item": "chai", "gateway": gateway}}))
    kinds.append(("POST", "/shop/orders", {"data": {"item": "yacht\n" + "y" * 1000}}))
    for order in (*known[:3], "order_nobody"):  # issue 8 item 3's attack
        metadata = json.dumps({"order_id": order, "payment_id": "pay_fake"})
        kinds.append(("POST", "/return/razorpay", {"data": {**padding, "error[metadata]": metadata}}))
    kinds.append(("POST", "/return/razorpay", {"data": {"razorpay_order_id": known[0], "razorpay_payment_id": "pay_x",
                                                        "razorpay_signature": "0" * 64}}))
    kinds.append(("POST", "/return/paytm", {"data": {"ORDERID": known[1], "STATUS": "TXN_SUCCESS",
                                                     "CHECKSUMHASH": "forged"}}))
    kinds.append(("GET", "/return/razorpay", {"params": {"error[metadata]": json.dumps({"order_id": known[2]})}}))
    return kinds


async def attacker(session: aiohttp.ClientSession, url: str, kinds: list, rate: float, attackers: int,
                   until: float, tally: Tally) -> None:
    pending: set[asyncio.Task] = set()

    async def one(method: str, path: str, kwargs: dict[str, Any], who: str) -> None:
        headers = {"X-Forwarded-For": who}
        try:
            async with session.request(method, url + path, headers=headers, allow_redirects=False, **kwargs) as answer:
                await answer.read()
                tally.add("abuse", answer.status)
                tally.add(f"abuse {answer.status}", answer.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.add("abuse", type(exc).__name__)

    start, n = time.perf_counter(), 0
    while rate > 0 and time.perf_counter() < until:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        method, path, kwargs = random.choice(kinds)
        task = asyncio.create_task(one(method, path, kwargs, address("203.0", n % attackers)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
    await asyncio.gather(*pending)


async def callbacks(session: aiohttp.ClientSession, url: str, pays: list[Pay], rate: float, sent_at: dict[str, float],
                    rtts: list[float], tally: Tally) -> int:
    bodies = [(p, *signed_callback(SANDBOX_SECRET, p.txn)) for p in pays]
    timeline = TIMELINE
    pending: set[asyncio.Task] = set()
    acked = 0

    async def one(pay: Pay, body: bytes, headers: dict[str, str]) -> None:
        nonlocal acked
        start = sent_at[pay.id] = time.perf_counter()
        try:
            async with session.post(f"{url}/webhooks/sandbox", data=body, headers=headers) as answer:
                await answer.read()
                tally.add("callback", answer.status)
                if 200 <= answer.status < 300:
                    acked += 1
                    rtts.append(1000 * (time.perf_counter() - start))
                    timeline.append((start, rtts[-1]))
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.add("callback", type(exc).__name__)

    start = time.perf_counter()
    for n, (pay, body, headers) in enumerate(bodies):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        task = asyncio.create_task(one(pay, body, headers))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return acked


async def run(args: argparse.Namespace, hub: LiveHub) -> dict[str, Any]:
    callbacks_count = int(args.rate * args.seconds)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        print(f"creating {callbacks_count} payments ...", file=sys.stderr)
        payments = await create(session, hub, callbacks_count)
        pays = [Pay(p["id"], p["gateway_order_id"], p["subscribe_token"]) for p in payments]

        # Subscribers, each from its own address, sharing out the payments the callbacks will pay.
        received: dict[str, float] = {}

        def on_event(name: str, payload: Any, at: float) -> None:
            if name == "payment_status" and isinstance(payload, dict) and payload.get("status") == "succeeded":
                received.setdefault(payload["id"], at)

        sessions = [aiohttp.ClientSession(headers={"X-Forwarded-For": address("10.2", i)})
                    for i in range(args.subscribers)]
        clients = [SioClient(s, hub.url, on_event) for s in sessions]
        await asyncio.gather(*(c.connect() for c in clients))
        acks = await asyncio.gather(*(clients[i % len(clients)].call("subscribe",
                                                                     {"payment_id": p.id, "token": p.token})
                                      for i, p in enumerate(pays)))
        refused = [a for a in acks if not (isinstance(a, dict) and a.get("ok"))]
        if refused:
            raise RuntimeError(f"{len(refused)} subscriptions refused, e.g. {refused[0]}")

        tally, woken, rtts, sent_at = Tally(), Counter(), [], {}
        until = time.perf_counter() + args.seconds + 2
        print(f"holding {args.long_polls} long polls ...", file=sys.stderr)
        # Most long polls wait on payments nothing happens to (held the whole time); one in
        # --woken-every waits on a payment a callback will pay, so the wake path runs too.
        quiet = await create(session, hub, 50)

        def watched(i: int) -> dict[str, Any]:
            if i % args.woken_every == 0:
                return payments[i // args.woken_every % len(payments)]
            return quiet[i % len(quiet)]

        polls = [asyncio.create_task(long_poller(session, hub.url, watched(i), i, until, tally, woken))
                 for i in range(args.long_polls)]
        deadline = time.perf_counter() + 60
        while await held(session, hub.url) < args.long_polls and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
        before = rows(hub.folder / "payhub.db")

        print(f"attack for {args.seconds:g} s: {args.abuse:g} abusive requests/s, {args.rate:g} callbacks/s",
              file=sys.stderr)
        samples: list[float] = []

        async def sample() -> None:
            while time.perf_counter() < until:
                samples.append(await held(session, hub.url))
                await asyncio.sleep(1)

        sampler = asyncio.create_task(sample())
        server, driver = psutil.Process(hub.process.pid), psutil.Process()
        machine_before = psutil.cpu_times()
        cpu_before = (sum(server.cpu_times()[:2]), sum(driver.cpu_times()[:2]), time.perf_counter())
        abuse = asyncio.create_task(attacker(session, hub.url, abusive_requests(payments), args.abuse, args.attackers,
                                             time.perf_counter() + args.seconds, tally))
        acked = await callbacks(session, hub.url, pays, args.rate, sent_at, rtts, tally)
        await abuse
        spent = time.perf_counter() - cpu_before[2]
        cpu = {"server": 100 * (sum(server.cpu_times()[:2]) - cpu_before[0]) / spent,
               "driver": 100 * (sum(driver.cpu_times()[:2]) - cpu_before[1]) / spent}
        busy = [now - then for now, then in zip(psutil.cpu_times(), machine_before, strict=True)]
        fields = psutil.cpu_times()._fields
        machine = 100 * sum(b for f, b in zip(fields, busy, strict=True) if f not in ("idle", "iowait")) / spent
        cpu["others"] = max(0.0, machine - cpu["server"] - cpu["driver"])
        waited = time.perf_counter()
        while time.perf_counter() - waited < args.grace and any(p.id not in received for p in pays):
            await asyncio.sleep(0.05)
        after = rows(hub.folder / "payhub.db")
        async with session.get(f"{hub.url}/metrics") as answer:
            scraped = [x for x in (await answer.text()).splitlines()
                       if x.startswith(("payhub_gc_pause_seconds_bucket", "payhub_gc_pause_seconds_count",
                                        "payhub_callback_seconds_bucket{gateway=\"sandbox\",le=\"0.05\"",
                                        "payhub_callback_seconds_count"))]
        sampler.cancel()
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, sampler, return_exceptions=True)
        for client in clients:
            await client.close()
        for s in sessions:
            await s.close()

    pushes = sorted(1000 * (received[p.id] - sent_at[p.id]) for p in pays if p.id in received and p.id in sent_at)
    growth = {t: after[t] - before[t] for t in TABLES}
    # Each acknowledged callback adds exactly one event row; anything else came from the abuse.
    abusive_growth = sum(growth.values()) - acked
    rtts.sort()
    first = min((t for t, _ in TIMELINE), default=0)
    per_second: dict[int, list[float]] = {}
    for at, ms in TIMELINE:
        per_second.setdefault(int(at - first), []).append(ms)
    return {
        "scraped": scraped, "max_ms_per_second": {k: round(max(v), 1) for k, v in sorted(per_second.items())},
        "seconds": args.seconds, "long_polls": args.long_polls, "abuse_per_s": args.abuse, "rate": args.rate,
        "callbacks_sent": len(pays), "callbacks_acked": acked,
        "callback_ms": {p: percentile(rtts, p) for p in (50, 95, 99)} | {"max": rtts[-1] if rtts else None},
        "pushes_received": len(pushes), "push_ms": {p: percentile(pushes, p) for p in (50, 95, 99)},
        "long_polls_held": {"min": min(samples, default=0), "max": max(samples, default=0)},
        "long_polls_woken": woken["woken"],
        "answers": {who: dict(c) for who, c in sorted(tally.by.items())},
        "cpu_percent": cpu, "five_xx": tally.fives(), "rows_before": before, "rows_after": after,
        "abusive_rows": abusive_growth,
    }


def report(result: dict[str, Any]) -> str:
    ms, held = result["callback_ms"], result["long_polls_held"]
    lines = [
        f"attack: {result['seconds']:g} s, {result['long_polls']} long polls held, "
        f"{result['abuse_per_s']:g} abusive req/s, {result['rate']:g} signed callbacks/s",
        f"callbacks: {result['callbacks_acked']}/{result['callbacks_sent']} acknowledged; round trip "
        f"p50 {ms[50]:.1f} / p95 {ms[95]:.1f} / p99 {ms[99]:.1f} / max {ms['max']:.1f} ms "
        f"[{'PASS' if ms[99] is not None and ms[99] < 50 else 'MISS'} p99 < 50 ms]",
        f"pushes: {result['pushes_received']}/{result['callbacks_sent']} arrived, p50 {result['push_ms'][50]:.1f} / "
        f"p99 {result['push_ms'][99]:.1f} ms "
        f"[{'PASS' if result['pushes_received'] == result['callbacks_sent'] else 'MISS'}]",
        f"long polls held during the attack: {held['min']:g}-{held['max']:g}; "
        f"answered with a change: {result['long_polls_woken']}",
        f"CPU during the attack, % of one core: server {result['cpu_percent']['server']:.0f}, "
        f"driver {result['cpu_percent']['driver']:.0f}, others {result['cpu_percent']['others']:.0f}"
        + (" [NOISY: other work on the machine; take figures on a quiet one]"
           if result["cpu_percent"]["others"] > 15 else ""),
        f"5xx answers anywhere: {result['five_xx']} [{'PASS' if result['five_xx'] == 0 else 'MISS'}]",
        f"rows added by the abuse: {result['abusive_rows']} [{'PASS' if result['abusive_rows'] == 0 else 'MISS'}]",
        "answers: " + "; ".join(f"{who} {dict(c)}" for who, c in result["answers"].items() if not who[-1].isdigit()),
        "abuse by answer: " + ", ".join(f"{who.split()[1]}: {sum(c.values())}" for who, c in result["answers"].items()
                                         if who.startswith("abuse ")),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="payhub-attack-"))
    hub = LiveHub(folder, PAYHUB_TRUSTED_PROXIES="1", PAYHUB_LONG_POLL_MAX=str(max(1000, args.long_polls)),
                  PAYHUB_RAZORPAY_KEY_ID="rzp_test_bench", PAYHUB_RAZORPAY_KEY_SECRET="bench-secret",
                  PAYHUB_RAZORPAY_WEBHOOK_SECRET="bench-webhook", PAYHUB_RAZORPAY_BASE_URL="http://127.0.0.1:9",
                  PAYHUB_PAYTM_MID="BENCHMID", PAYHUB_PAYTM_MERCHANT_KEY="k" * 16,
                  PAYHUB_PAYTM_BASE_URL="http://127.0.0.1:9", **dict(e.split("=", 1) for e in args.env))
    hub.start()
    try:
        result = asyncio.run(run(args, hub))
    finally:
        hub.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(report(result))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"attack-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
