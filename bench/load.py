"""Subscribers and callback senders, and what they saw: sent/received times per payment.

Latency of a push = perf_counter() when its callback request is handed to the HTTP client
-> perf_counter() when the subscriber's websocket read yields the matching `payment_status`.
Both ends live in this one asyncio process, so they share a clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from servers import Pay, signed_callback
from sioclient import SioClient


@dataclass
class PushLog:
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    unexpected: int = 0

    def on_event(self, name: str, payload: Any, at: float) -> None:
        if name != "payment_status" or not isinstance(payload, dict) or payload.get("status") != "succeeded":
            return
        pid = payload.get("id")
        if pid in self.received:
            self.duplicates += 1
        elif pid not in self.sent:
            self.unexpected += 1
        else:
            self.received[pid] = at

    async def wait_for(self, ids: list[str], grace: float) -> float:
        """Wait until every id arrived or `grace` seconds passed; returns the time waited."""
        start = time.perf_counter()
        while time.perf_counter() - start < grace and any(i not in self.received for i in ids):
            await asyncio.sleep(0.01)
        return time.perf_counter() - start

    def latencies_ms(self, ids: list[str]) -> list[float]:
        return sorted(1000 * (self.received[i] - self.sent[i]) for i in ids if i in self.received and i in self.sent)


@dataclass(frozen=True)
class Job:
    pay: Pay
    body: bytes
    headers: dict[str, str]


def jobs_for(pays: list[Pay], secret: str) -> list[Job]:
    """Signed bodies made before the timed phase, so signing costs the driver nothing then."""
    return [Job(p, *signed_callback(secret, p.txn)) for p in pays]


@dataclass
class Sent:
    ok_ids: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    rtts_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


async def send(session: aiohttp.ClientSession, url: str, job: Job, log: PushLog, sent: Sent) -> None:
    start = log.sent[job.pay.id] = time.perf_counter()
    try:
        async with session.post(url, data=job.body, headers=job.headers) as answer:
            await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        sent.failed[type(exc).__name__] = sent.failed.get(type(exc).__name__, 0) + 1
        return
    sent.rtts_ms.append(1000 * (time.perf_counter() - start))
    if 200 <= status < 300:
        sent.ok_ids.append(job.pay.id)
    else:
        sent.failed[f"HTTP {status}"] = sent.failed.get(f"HTTP {status}", 0) + 1


async def saturate(session: aiohttp.ClientSession, url: str, jobs: list[Job], concurrency: int, log: PushLog) -> Sent:
    """Closed loop: `concurrency` senders, each posting its next callback as soon as one is answered."""
    sent, todo = Sent(started=time.perf_counter()), iter(jobs)

    async def sender() -> None:
        for job in todo:
            await send(session, url, job, log, sent)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    sent.finished = time.perf_counter()
    return sent


async def steady(session: aiohttp.ClientSession, url: str, jobs: list[Job], rate: float, log: PushLog,
                 max_in_flight: int = 256) -> Sent:
    """Open loop: callback i leaves at start + i/rate whatever the answers (bounded in flight)."""
    sent, slots, tasks = Sent(), asyncio.Semaphore(max_in_flight), set()
    sent.started = start = time.perf_counter() + 0.05
    for index, job in enumerate(jobs):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        task = asyncio.create_task(send(session, url, job, log, sent))
        tasks.add(task)
        task.add_done_callback(lambda t: (tasks.discard(t), slots.release()))
    await asyncio.gather(*tasks)
    sent.finished = time.perf_counter()
    return sent


async def subscribe_all(session: aiohttp.ClientSession, base_url: str, pays: list[Pay], count: int,
                        log: PushLog, concurrency: int = 50) -> list[SioClient]:
    """Connect `count` subscribers; subscriber k subscribes to pays[k::count]."""
    return await add_subscribers(session, base_url, [], pays, count, log, concurrency)


async def add_subscribers(session: aiohttp.ClientSession, base_url: str, clients: list[SioClient],
                          pays: list[Pay], count: int, log: PushLog, concurrency: int = 50) -> list[SioClient]:
    """Grow `clients` (already connected) to `count` connections, then subscriber k of all of them
    subscribes to pays[k::count]. Returns all the clients."""
    everyone = [*clients, *(SioClient(session, base_url, log.on_event) for _ in range(count - len(clients)))]
    slots = asyncio.Semaphore(concurrency)

    async def join(index: int, client: SioClient) -> None:
        async with slots:
            if index >= len(clients):
                await client.connect()
            for pay in pays[index::count]:
                answer = await client.call("subscribe", {"payment_id": pay.id, "token": pay.token})
                if not (isinstance(answer, dict) and answer.get("ok")):
                    raise RuntimeError(f"subscribe to {pay.id} refused: {answer}")

    await asyncio.gather(*(join(i, c) for i, c in enumerate(everyone)))
    return everyone


async def close_all(clients: list[SioClient], timeout: float = 10) -> None:
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    except TimeoutError:
        pass
