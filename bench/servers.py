"""The two servers under test (the hub and the naive baseline), their payments, and a sampler
of their memory and CPU. Each server is a real child process on 127.0.0.1 with a fresh SQLite
database in a folder the driver gives."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.livehub import SANDBOX_SECRET, LiveHub, free_port  # noqa: E402

BASELINE_SECRET = "bench-baseline-secret"


@dataclass(frozen=True)
class Pay:
    id: str  # the id a subscriber subscribes to and a push carries
    txn: str  # the id the gateway callback names
    token: str | None  # the subscribe token (the baseline has none)


def signed_callback(secret: str, txn: str) -> tuple[bytes, dict[str, str]]:
    """A sandbox-format success callback and its headers (HMAC-SHA256 of the raw body)."""
    body = json.dumps({"transaction_id": txn, "status": "success", "amount": 1000,
                       "event_id": "evt_" + uuid.uuid4().hex}, separators=(",", ":")).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Payhub-Signature": signature}


class HubTarget:
    """PayHub itself: `python app.py` via tests/livehub.py; payments through its merchant API."""

    name = "hub"
    callback_path = "/webhooks/sandbox"
    secret = SANDBOX_SECRET

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        # The load comes from 127.0.0.1 only: lift the per-address limits (README "Security").
        self._hub = LiveHub(folder, **{"PAYHUB_RATE_LIMITS": "0", **(env or {})})
        self.url = self._hub.url

    def start(self, rows: int) -> None:
        self._hub.start()
        self.pid = self._hub.process.pid  # type: ignore[union-attr]

    def stop(self) -> None:
        self._hub.stop()

    async def payments(self, session: aiohttp.ClientSession, count: int, concurrency: int = 8,
                       rtts_ms: list[float] | None = None) -> list[Pay]:
        """Create `count` sandbox payments through the merchant API, `concurrency` at a time
        (closed loop); each answer's round trip goes to `rtts_ms` when given."""
        made: list[Pay] = []
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                body = {"order_id": f"bench_{uuid.uuid4().hex[:16]}", "amount": 1000, "currency": "INR",
                        "gateway": "sandbox"}
                started = time.perf_counter()
                async with session.post(f"{self.url}/api/payments", json=body, headers=self._hub.headers) as answer:
                    if answer.status != 201:
                        raise RuntimeError(f"hub refused a payment: {answer.status} {await answer.text()}")
                    data = await answer.json()
                if rtts_ms is not None:
                    rtts_ms.append(1000 * (time.perf_counter() - started))
                made.append(Pay(data["id"], data["gateway_order_id"], data["subscribe_token"]))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return made


async def gc_pauses(target: Any, session: aiohttp.ClientSession) -> dict[str, float] | None:
    """The hub's garbage collection pause histogram from /metrics: {bucket or 'count:g': value}.
    None for a server without one (the baseline)."""
    if target.name != "hub":
        return None
    async with session.get(f"{target.url}/metrics", headers=target._hub.headers) as answer:
        text = await answer.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("payhub_gc_pause_seconds_bucket") and 'generation="2"' in line:
            out[line.split('le="')[1].split('"')[0]] = float(line.split()[-1])
        elif line.startswith("payhub_gc_pause_seconds_count"):
            out["count:" + line.split('generation="')[1].split('"')[0]] = float(line.split()[-1])
    return out


def gc_figures(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, Any] | None:
    """Collections during a phase by generation, and the longest full one as a bucket bound."""
    if before is None or after is None:
        return None
    grew = {k: after[k] - before.get(k, 0) for k in after}
    buckets = sorted((float(k), v) for k, v in grew.items() if not k.startswith("count:") and k != "+Inf")
    full = grew.get("count:2", 0)
    longest = next((bound for bound, n in buckets if n >= full), None) if full else 0
    return {"collections": [int(grew.get(f"count:{g}", 0)) for g in range(3)], "full_max_s_at_most": longest}


class BaselineTarget:
    """bench/baseline_app.py; its rows are seeded straight into its database before it starts."""

    name = "baseline"
    callback_path = "/callback"
    secret = BASELINE_SECRET

    def __init__(self, folder: Path, sqlite: str = "hub") -> None:
        self._folder = Path(folder)
        self._folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "BENCH_PORT": str(self.port), "BENCH_SECRET": self.secret,
                     "BENCH_DB": str(self._folder / "baseline.db"), "BENCH_SQLITE": sqlite}
        self._process: subprocess.Popen[bytes] | None = None
        self._rows = 0

    def start(self, rows: int) -> None:
        app = [sys.executable, str(BENCH / "baseline_app.py")]
        subprocess.run([*app, "--seed", str(rows)], env=self._env, check=True, timeout=120)
        self._rows = rows
        log = open(self._folder / "server.log", "ab")  # noqa: SIM115 - the child's for its lifetime
        self._process = subprocess.Popen(app, env=self._env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.pid = self._process.pid
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"baseline exited with {self._process.returncode}; see {self._folder}/server.log")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("baseline did not start in 20s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)

    async def payments(self, session: aiohttp.ClientSession, count: int) -> list[Pay]:
        if count > self._rows:
            raise ValueError(f"only {self._rows} rows were seeded")
        return [Pay(f"b{i:07d}", f"b{i:07d}", None) for i in range(count)]


class Sampler:
    """Samples a process's RSS (peak and last) and CPU time in a thread, every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_rss = self.last_rss = self.rss()
        self._cpu0 = self._cpu()
        self._t0 = time.perf_counter()

    def rss(self) -> int:
        return self._process.memory_info().rss

    def _cpu(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.last_rss = self.rss()
            except psutil.Error:
                return
            self.peak_rss = max(self.peak_rss, self.last_rss)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(2)
        self.cpu_percent = 100 * (self._cpu() - self._cpu0) / max(time.perf_counter() - self._t0, 1e-9)


class MachineCpu:
    """CPU busy on the whole machine while in the block, in % of one core (2 cores: up to 200).

    Other sessions' tests share this machine; their share explains noisy runs."""

    def __enter__(self) -> MachineCpu:
        self._t0, self._busy0 = time.perf_counter(), self._busy()
        return self

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0)

    def __exit__(self, *exc: Any) -> None:
        self.cpu_percent = 100 * (self._busy() - self._busy0) / max(time.perf_counter() - self._t0, 1e-9)
