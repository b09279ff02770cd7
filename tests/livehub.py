"""Start `python app.py` as a real process on a free port, for end-to-end tests and the
benchmark. Its database and secrets live in a folder the caller gives."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
# How long a start may take before it counts as failed: a bound, not a wait (start() returns as
# soon as the process answers). Generous because the suite runs on parallel workers on 2 cores:
# under load a start once took over 20 s before the process printed anything.
START_TIMEOUT = 60.0
API_KEY = "e2e-api-key"
SECRET_KEY = "e2e-secret-key"
SANDBOX_SECRET = "e2e-sandbox-secret"


# Ports for test servers come from a block of their own per pytest-xdist worker (gw0, gw1, ...),
# below Linux's ephemeral range (32768+), so that neither another worker's server nor any
# outgoing connection (which takes an ephemeral port) can grab a port between our pick and the
# server's bind. A serial run takes a random block; the start within a block is random too, so
# that two runs on one machine rarely walk the same ports.
PORT_BASE, PORT_BLOCK, PORT_BLOCKS = 12000, 2000, 10
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_block = int(_worker[2:]) % PORT_BLOCKS if _worker[2:].isdigit() else random.randrange(PORT_BLOCKS)
_next = random.randrange(PORT_BLOCK)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_run(count: int = 1) -> int:
    """The first of `count` consecutive free ports, none handed out by this process before."""
    global _next
    for _ in range(PORT_BLOCK):
        if _next + count > PORT_BLOCK:
            _next = 0
        first = PORT_BASE + _block * PORT_BLOCK + _next
        _next += count
        if all(_bindable(port) for port in range(first, first + count)):
            return first
    raise RuntimeError("no run of free ports")


def free_port() -> int:
    return free_run(1)


def wait_until(predicate: Callable[[], Any], timeout: float = 30, step: float = 0.1) -> Any:
    """Ask `predicate` every `step` seconds until it answers something true (returned) or
    `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """wait_until, failing the test with `what` when `check` never answers something true."""
    result = wait_until(check, timeout)
    if not result:
        raise AssertionError(f"not within {timeout} s: {what}")
    return result


class LiveProcess:
    """A PayHub child process writing to `log_path`: log(), kill() (SIGKILL), stop()."""

    what = "PayHub"  # for error messages

    def __init__(self, folder: Path, log_name: str, env: dict[str, str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.env = {"PAYHUB_INSTANCE_PATH": str(self.folder), "PAYHUB_API_KEY": API_KEY,
                    "PAYHUB_SECRET_KEY": SECRET_KEY, "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.folder / log_name

    def _spawn(self, command: list[str], cwd: Path, ready: Callable[[], bool], timeout: float) -> None:
        """Start `command` with only our PAYHUB_* variables; wait until ready() or fail with the log."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | self.env
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.what} did not start in {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class LiveHub(LiveProcess):
    """One PayHub server process. start(), kill() (SIGKILL), stop(), restart with start()."""

    def __init__(self, folder: Path, root: Path = ROOT, command: list[str] | None = None, **env: str) -> None:
        self.root = Path(root)  # the source tree to run (another release's, for upgrade tests)
        self.command = command or [sys.executable, "app.py"]  # or another server, e.g. gunicorn
        self.port = int(env.pop("PAYHUB_PORT", 0)) or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(folder, "server.log", {"PAYHUB_PORT": str(self.port), **env})

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    def start(self, timeout: float = START_TIMEOUT) -> LiveHub:
        self._spawn(self.command, self.root, self._healthy, timeout)
        return self

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def create(self, **fields: Any) -> dict[str, Any]:
        import uuid

        body = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 1000, "currency": "INR",
                "gateway": "sandbox", **fields}
        response = requests.post(f"{self.url}/api/payments", json=body, headers=self.headers, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def payment(self, payment_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.url}/api/payments/{payment_id}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


class LiveWorker(LiveProcess):
    """One `python -m payhub.worker` process (the cluster's sweeps and notification retries)."""

    what = "the worker"

    def __init__(self, folder: Path, **env: str) -> None:
        super().__init__(folder, "worker.log", env)

    def start(self, timeout: float = START_TIMEOUT) -> LiveWorker:
        seen = len(self.log())  # a restart appends to the same log
        self._spawn([sys.executable, "-m", "payhub.worker"], ROOT, lambda: "PayHub worker:" in self.log()[seen:],
                    timeout)
        return self
