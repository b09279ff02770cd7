"""A bounded pool of worker threads that runs jobs grouped by key (a gateway), at most `per_key`
at a time for one key and the keys in turn, so one slow key cannot take every worker.

Plain `threading`: under eventlet or gevent monkey-patching (app.py) the workers are green
threads, under the threading mode (CLI, tests) real ones. Nothing here knows which.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Any]


class FairPool:
    """`submit(key, job)` while the pool runs; `join()` waits until every job has run.

    `context` (e.g. an app context factory) is entered once by each worker around its jobs.
    """

    def __init__(self, size: int, per_key: int, context: Callable[[], AbstractContextManager[Any]] | None = None,
                 name: str = "pool") -> None:
        self.size, self.per_key = max(1, size), max(1, per_key)
        self._context = context or nullcontext
        self._name = name
        self._cond = threading.Condition()
        self._queues: dict[str, deque[Job]] = {}
        self._running: dict[str, int] = {}
        self._turn: deque[str] = deque()  # keys in the order they are served
        self._closed = False
        self._workers: list[threading.Thread] = []
        self.peak_running = 0

    def submit(self, key: str, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the pool is closed")
            if key not in self._queues:
                self._queues[key], self._running[key] = deque(), 0
                self._turn.append(key)
            self._queues[key].append(job)
            self._cond.notify()
            if len(self._workers) < self.size:
                self._start_worker()

    def join(self) -> None:
        """No more jobs: wait until every submitted job has run and the workers are gone."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join()

    def __enter__(self) -> FairPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()

    def _start_worker(self) -> None:
        worker = threading.Thread(target=self._work, name=f"{self._name}-{len(self._workers)}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        with self._context():
            for key, job in self._jobs():
                try:
                    job()
                except Exception:  # a job's failure must not take a worker (and its jobs) down
                    log.exception("%s job for %s failed", self._name, key)
                finally:
                    with self._cond:
                        self._running[key] -= 1
                        self._cond.notify_all()

    def _jobs(self) -> Iterator[tuple[str, Job]]:
        while True:
            with self._cond:
                picked = self._pick()
                while picked is None:
                    if self._closed and not any(self._queues.values()):
                        return
                    self._cond.wait()
                    picked = self._pick()
            yield picked

    def _pick(self) -> tuple[str, Job] | None:
        """The next job of the first key in turn that has one and is below its limit; that key
        then goes to the back of the line."""
        for _ in range(len(self._turn)):
            key = self._turn[0]
            self._turn.rotate(-1)
            if self._queues[key] and self._running[key] < self.per_key:
                self._running[key] += 1
                self.peak_running = max(self.peak_running, sum(self._running.values()))
                return key, self._queues[key].popleft()
        return None
