"""Held long polls (GET /api/payments/<id>/status?wait=N): waiting holds no database connection.

A waiter is registered before the payment is read, then sleeps on an event of the server's
async mode. It wakes when the payment's version goes above the one it saw:
- at once, from this process's publish path (`notify`, called by realtime.publish after the
  door's commit);
- within RECHECK seconds for a change another process committed: one task per process reads
  the versions of every waited-on payment in one short query (in chunks), hands its
  connection back, and notifies. With no waiter, the task ends.
One process holds at most `limit` waiters; `register` answers None beyond that (a 429).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from . import metrics
from .extensions import db, socketio
from .models import Payment

log = logging.getLogger(__name__)

RECHECK = 1.0  # seconds between two reads of the waited-on versions
CHUNK = 500  # ids per re-check query
EXTENSION = "payhub.longpoll"


class Waiter:
    """One held request: the version its client has, the newest one heard of, an event."""

    def __init__(self, payment_id: str, event: Any) -> None:
        self.payment_id = payment_id
        self.seen: int | None = None
        self.latest = 0
        self._event = event

    def heard(self, version: int) -> None:
        self.latest = max(self.latest, version)
        if self.seen is not None and self.latest > self.seen:
            self._event.set()

    def wait(self, seen: int, timeout: float) -> bool:
        """Sleep until a version above `seen` is heard of, or `timeout`; True if it was."""
        self.seen = seen
        if self.latest > seen:
            return True
        self._event.wait(timeout)
        return self.latest > seen


class LongPolls:
    """The waiters of one app in this process."""

    def __init__(self, app: Flask, limit: int) -> None:
        self._app = app
        self.limit = limit
        self._waiters: dict[str, set[Waiter]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._checking = False

    @property
    def held(self) -> int:
        return self._count

    def register(self, payment_id: str) -> Waiter | None:
        """A new waiter for `payment_id`, or None when this process already holds `limit`."""
        with self._lock:
            if self._count >= self.limit:
                return None
            waiter = Waiter(payment_id, socketio.server.eio.create_event())
            self._waiters.setdefault(payment_id, set()).add(waiter)
            self._count += 1
            metrics.LONG_POLLS.inc()
            start, self._checking = not self._checking, True
        if start:
            socketio.start_background_task(self._recheck_loop)
        return waiter

    def release(self, waiter: Waiter) -> None:
        with self._lock:
            group = self._waiters.get(waiter.payment_id)
            if group is not None and waiter in group:
                group.discard(waiter)
                self._count -= 1
                metrics.LONG_POLLS.dec()
                if not group:
                    del self._waiters[waiter.payment_id]

    def notify(self, payment_id: str, version: int) -> None:
        with self._lock:
            waiters = list(self._waiters.get(payment_id, ()))
        for waiter in waiters:
            waiter.heard(version)

    def _recheck_loop(self) -> None:
        """Catch changes committed by other processes (their publish path is not ours)."""
        while True:
            socketio.sleep(RECHECK)
            with self._lock:
                if not self._waiters:
                    self._checking = False
                    return
                ids = list(self._waiters)
            try:
                for payment_id, version in self._versions(ids):
                    self.notify(payment_id, version)
            except Exception:  # a database hiccup: the next round tries again
                log.exception("long poll re-check failed")

    def _versions(self, ids: list[str]) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        with self._app.app_context():
            for start in range(0, len(ids), CHUNK):
                query = select(Payment.id, Payment.version).where(Payment.id.in_(ids[start:start + CHUNK]))
                with db.engine.connect() as conn:  # returned to the pool at the end of the block
                    found.extend((row.id, row.version) for row in conn.execute(query))
        return found


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = LongPolls(app, app.config["PAYHUB"].long_poll_max)


def polls() -> LongPolls:
    return current_app.extensions[EXTENSION]


def notify(view: dict[str, Any]) -> None:
    """Wake this process's long polls on a payment (called after the commit, with its view)."""
    registry = current_app.extensions.get(EXTENSION)
    if registry is not None:
        registry.notify(view["id"], view["version"])
