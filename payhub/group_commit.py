"""Group commit: gateway callbacks that arrive together share one transaction and one commit.

Each callback still goes through the one door (door._record: lock, duplicate check, transition
table, event, outbox row) and is answered, and published, only after the commit that holds it.
The first callback to arrive while no group is being written leads: it yields once (so that
callbacks already read by the server join it), takes everyone waiting (up to MAX_GROUP), records
them one after the other in one transaction and commits once. Callbacks arriving meanwhile wait
for the next group, led by the first of them. Members are recorded in arrival order, so a
duplicate inside one group is seen by the door like any other (the first's event row is already
in the transaction).

A member that fails must not lose or poison the others: if anything in the group raises, or the
commit fails, the whole transaction is rolled back and every member is retried alone, in its own
transaction (the failing one then fails alone, answered 500 and resent by its gateway).

SQLite only: it has one writer at a time anyway, so a group costs no concurrency and cannot
deadlock, and a commit is the per-callback cost worth sharing. On PostgreSQL each callback keeps
its own transaction (a group would hold several payments' row locks, taken in arrival order, while
other processes take theirs in another order).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram

from .extensions import db, socketio
from .metrics import REGISTRY

log = logging.getLogger(__name__)

MAX_GROUP = 64

GROUP_SIZES = Histogram(
    "payhub_commit_group_size", "Callbacks written per commit by the group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64), registry=REGISTRY,
)

Record = Callable[[Any], tuple[Any, bool]]  # door._record: update -> (outcome, applied)


class _Member:
    __slots__ = ("lead", "result", "update", "woken")

    def __init__(self, update: Any) -> None:
        self.update = update
        self.woken = threading.Event()  # green under eventlet/gevent once app.py has patched
        self.lead = False
        self.result: tuple[Any, bool] | None = None  # None after the group: retry alone


class Group:
    """One per app (the SQLite database it writes to)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Member] = []
        self._busy = False

    def apply(self, update: Any, record: Record) -> tuple[Any, bool] | None:
        """Record `update` with whoever else is waiting and commit. Returns (outcome, applied)
        once committed, or None: the group failed, apply it alone."""
        member = _Member(update)
        with self._lock:
            self._waiting.append(member)
            member.lead, self._busy = not self._busy, True
        if not member.lead:
            member.woken.wait()  # for our group's commit, or to lead the next group
        if member.lead:
            self._lead(record)  # our own group: it holds us first
        return member.result

    def _lead(self, record: Record) -> None:
        socketio.sleep(0)  # let the callbacks the server has already read join this group
        with self._lock:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        try:
            results = commit_together([m.update for m in group], record)
            for member, result in zip(group, results, strict=True):
                member.result = result
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].lead = True  # the next group's leader
                    self._waiting[0].woken.set()
                else:
                    self._busy = False
            for member in group:
                member.woken.set()


def commit_together(updates: list[Any], record: Record) -> list[tuple[Any, bool] | None]:
    """Record every update in one transaction and commit once. All or nothing: on any error the
    transaction is rolled back and every result is None (each to be retried alone)."""
    session = db.session
    try:
        results = [record(update) for update in updates]
        session.commit()
    except Exception:
        session.rollback()
        log.warning("a group of %d callbacks could not be committed together; each is retried alone",
                    len(updates), exc_info=True)
        return [None] * len(updates)
    GROUP_SIZES.observe(len(updates))
    return list(results)


def for_app(app: Any) -> Group | None:
    """The app's group, or None where callbacks are not grouped (PostgreSQL, or
    PAYHUB_GROUP_COMMIT=0)."""
    group = app.extensions.get("payhub.group_commit")
    if group is None:
        settings = app.config["PAYHUB"]
        enabled = settings.database_url.startswith("sqlite") and settings.get("group_commit", "1") != "0"
        group = app.extensions["payhub.group_commit"] = Group() if enabled else False
    return group or None
