"""The idle test: many subscribers held by one server process.

Open `count` Socket.IO connections, each subscribed to a payment; hold them; check every one is
still there (an acked round trip on each), and that a push to a sample of them still arrives.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import psutil
from load import PushLog, Sent, jobs_for, send
from report import percentile
from servers import Pay, Sampler
from sioclient import SioClient

PROBE = {"payment_id": "pay_bench_probe"}  # an unsubscribe from a room it is not in: a harmless round trip


async def _open(clients: list[SioClient], plan: list[Pay], concurrency: int) -> dict[str, int]:
    slots, errors = asyncio.Semaphore(concurrency), {}

    async def one(client: SioClient, pay: Pay) -> None:
        async with slots:
            try:
                await client.connect()
                answer = await client.call("subscribe", {"payment_id": pay.id, "token": pay.token})
                if not (isinstance(answer, dict) and answer.get("ok")):
                    raise ConnectionError(f"subscribe refused: {answer}")
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    await asyncio.gather(*(one(c, p) for c, p in zip(clients, plan, strict=True)))
    return errors


async def _round_trips(clients: list[SioClient], concurrency: int) -> int:
    """How many connections answer an acked emit."""
    slots, alive = asyncio.Semaphore(concurrency), 0

    async def one(client: SioClient) -> None:
        nonlocal alive
        async with slots:
            try:
                if client.connected and await client.call("unsubscribe", PROBE, timeout=10) is not None:
                    alive += 1
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                pass

    await asyncio.gather(*(one(c) for c in clients))
    return alive


async def idle_test(session: aiohttp.ClientSession, target: Any, count: int, hold: float, older: list[Pay],
                    samples: int = 20, concurrency: int = 200, grace: float = 5) -> dict[str, Any]:
    """`older`: payments to spread the connections over; `samples` fresh ones get a push at the end."""
    fresh = await target.payments(session, samples) if target.name == "hub" else older[:samples]
    older = older or fresh
    step = max(count // samples, 1)
    sample_at = {i * step: fresh[i] for i in range(min(samples, count))}
    plan = [sample_at.get(i, older[i % len(older)]) for i in range(count)]
    log = PushLog()
    clients = [SioClient(session, target.url, log.on_event) for _ in range(count)]
    with Sampler(target.pid) as sampler:
        rss_before = sampler.rss()
        started, cpu = time.perf_counter(), _cpu_seconds(target.pid)
        errors = await _open(clients, plan, concurrency)
        connect_s = time.perf_counter() - started
        server_cpu, driver_cpu = (after - before for after, before in zip(_cpu_seconds(target.pid), cpu, strict=True))
        rss_connected = sampler.rss()
        await asyncio.sleep(hold)
        still_open = sum(c.connected for c in clients)
        answering = await _round_trips(clients, concurrency)
        jobs = jobs_for(list(sample_at.values()), target.secret)
        for job in jobs:  # one at a time: the latency of a push with every connection held
            await send(session, target.url + target.callback_path, job, log, Sent())
            await log.wait_for([job.pay.id], grace)
        rss_after = sampler.rss()
    closing = time.perf_counter()
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    latencies = log.latencies_ms([j.pay.id for j in jobs])
    return {
        "connections": count, "connect_errors": errors, "connect_seconds": round(connect_s, 2),
        "connects_per_s": round(count / connect_s, 1),
        "connect_cpu_ms": {"server": round(1000 * server_cpu / count, 2),
                           "driver": round(1000 * driver_cpu / count, 2)},
        "held_seconds": hold, "still_open": still_open,
        "answering_round_trip": answering, "sample_pushes": len(jobs), "sample_pushes_received": len(latencies),
        "sample_push_ms": {"p50": percentile(latencies, 50), "max": percentile(latencies, 100)},
        "rss_before_mb": mb(rss_before), "rss_connected_mb": mb(rss_connected), "rss_after_mb": mb(rss_after),
        "rss_peak_mb": mb(sampler.peak_rss), "kb_per_connection": round((rss_connected - rss_before) / 1024 / count, 1),
        "close_seconds": round(time.perf_counter() - closing, 2),
    }


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server and by this driver."""
    server, driver = psutil.Process(pid).cpu_times(), psutil.Process().cpu_times()
    return server.user + server.system, driver.user + driver.system


def mb(size: int) -> float:
    return round(size / 2**20, 1)
