"""The sweep (CONTRACT.md §6): poll the payments that are due at their gateway, expire the old
ones that are still pending, and watch closed ones for late money.

Which payments are due, and the poll lease, live in one indexed column (`next_poll_at`, see
payhub/poll_schedule.py), so the sweep pages through every due payment with an index range
scan, however many there are. Polls run concurrently in a bounded pool, a few per gateway at a
time (payhub/fairpool.py), each claimed right before it runs: with several processes, or a sweep
that outlasts its interval, a payment is never polled by two of them at once. State lives in the
database, so a restart loses nothing and catches up.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, select, tuple_, update

from . import lifecycle, metrics, poll_schedule
from .door import apply_update
from .extensions import db
from .fairpool import FairPool
from .gateways.base import EXPIRY, StatusUpdate
from .models import Payment, utcnow
from .polling import PollResult, poll_ref
from .views import payment_ref

log = logging.getLogger(__name__)

PAGE = 500
OUTBOX_TICK = 2  # seconds between looks at the outbox for due retries
GATEWAY_UNREACHABLE = "gateway_unreachable"
# At most this many of a sweep's polls use a database connection at once, whatever the pool
# size: the rest of the process (web requests) keeps connections to work with.
DB_SLOTS = 8

_P = Payment.__table__
# What a claim reads back: the payment as a gateway adapter sees it, and what the sweep decides by.
_CLAIMED = [Payment.id, Payment.order_id, Payment.gateway, Payment.amount, Payment.currency, Payment.status,
            Payment.created_at, Payment.updated_at, Payment.gateway_order_id, Payment.gateway_payment_id,
            Payment.gateway_reference, Payment.customer, Payment.meta.label("meta"), Payment.return_url]
# Built once (the door does the same): per poll, only the parameters change.
_CLAIM = (
    update(_P).where(_P.c.id == bindparam("k_id"), _P.c.next_poll_at <= bindparam("k_due"))
    .values(next_poll_at=bindparam("v_lease")).returning(*_CLAIMED)
)
_RELEASE = (
    update(_P).where(_P.c.id == bindparam("k_id"), _P.c.next_poll_at == bindparam("k_lease"))
    .values(next_poll_at=bindparam("v_next"))
)


@dataclass
class SweepReport:
    polled: list[str] = field(default_factory=list)  # every poll, answered or not
    expired: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # polls that got no answer
    unreachable: list[str] = field(default_factory=list)  # expired as gateway_unreachable
    seconds: float = 0.0
    peak_concurrency: int = 0


@dataclass
class _Sweep:
    """One sweep's fixed facts, shared by its workers."""

    started: datetime
    settings: Any
    lease: timedelta
    report: SweepReport
    db_slot: threading.Semaphore
    errors: Counter = field(default_factory=Counter)  # (gateway, error) -> polls
    lock: threading.Lock = field(default_factory=threading.Lock)


@metrics.SWEEP_SECONDS.time()
def sweep() -> SweepReport:
    """One sweep, in the current app context: every payment due now is visited once."""
    settings = current_app.config["PAYHUB"]
    app = current_app._get_current_object()
    metrics.SWEEPS.inc()
    run = _Sweep(utcnow(), settings, poll_schedule.lease(settings), SweepReport(),
                 threading.Semaphore(min(DB_SLOTS, settings.sweep_concurrency)))
    pool = FairPool(settings.sweep_concurrency, settings.sweep_gateway_concurrency, app.app_context, "sweep")
    try:
        for payment_id, gateway in _due(run.started):
            pool.submit(gateway, lambda pid=payment_id: _visit(run, pid))
    finally:
        pool.join()
    run.report.seconds = (utcnow() - run.started).total_seconds()
    run.report.peak_concurrency = pool.peak_running
    _log_errors(run)
    return run.report


def _due(cutoff: datetime) -> Any:
    """(id, gateway) of every payment due at `cutoff`, a page at a time, in due order. Keyset
    paging: rows claimed meanwhile (by us or others) cannot make it skip or repeat one."""
    after: tuple[datetime, str] | None = None
    while True:
        query = select(_P.c.next_poll_at, _P.c.id, _P.c.gateway).where(_P.c.next_poll_at <= cutoff)
        if after is not None:
            query = query.where(tuple_(_P.c.next_poll_at, _P.c.id) > after)
        rows = db.session.execute(query.order_by(_P.c.next_poll_at, _P.c.id).limit(PAGE)).all()
        db.session.rollback()
        for row in rows:
            yield row.id, row.gateway
        if len(rows) < PAGE:
            return
        after = (rows[-1].next_poll_at, rows[-1].id)


def _visit(run: _Sweep, payment_id: str) -> None:
    """Claim one due payment, poll it, and decide what comes next for it."""
    now = utcnow()
    claimed = _claim(run, payment_id, now)
    if claimed is None:
        return  # another process has it, or it changed since it was listed
    payment, lease_until = claimed
    if payment.status == lifecycle.PENDING:
        _visit_pending(run, payment, lease_until)
    elif payment.status in poll_schedule.WATCHED:
        if poll_schedule.late_watch_due(payment.updated_at, run.started):
            _poll(run, payment)  # a late success is applied by the door, which then sets the schedule
        _release(run, payment.id, lease_until, poll_schedule.late_watch_after(payment.updated_at, utcnow()))
    else:  # nothing left to watch (a stale schedule)
        _release(run, payment.id, lease_until, None)


def _visit_pending(run: _Sweep, payment: Any, lease_until: datetime) -> None:
    settings = run.settings
    first_due = poll_schedule.first_poll(payment.created_at, settings)
    if first_due > run.started:  # scheduled under an earlier, smaller PAYHUB_POLL_AFTER
        _release(run, payment.id, lease_until, first_due)
        return
    if not payment.gateway_order_id:  # never opened at its gateway: nothing to ask
        _release(run, payment.id, lease_until, None)
        return
    result = _poll(run, payment)
    age = (utcnow() - payment.created_at).total_seconds()
    if result.answered and result.status == lifecycle.PENDING and age >= settings.expire_after:
        _expire(run, payment, {"expire_after_seconds": settings.expire_after})
    elif not result.answered and age >= 2 * settings.expire_after:
        _expire(run, payment, {"expire_after_seconds": settings.expire_after, "reason": GATEWAY_UNREACHABLE,
                               "last_error": result.error}, unreachable=True)
    # Still ours (nothing changed its status): due again at the next sweep.
    _release(run, payment.id, lease_until, poll_schedule.next_sweep(run.started, settings))


@contextmanager
def _autocommit() -> Iterator[Any]:
    """A connection of the pool for one statement that commits by itself: on PostgreSQL one
    round trip instead of BEGIN, the statement and COMMIT (claims and releases are one each)."""
    with db.engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def _claim(run: _Sweep, payment_id: str, now: datetime) -> tuple[Any, datetime] | None:
    """Take the payment's poll lease if it is still due for this sweep; its row as it is now."""
    lease_until = now + run.lease
    params = {"k_id": payment_id, "k_due": run.started, "v_lease": lease_until}
    try:
        with run.db_slot, _autocommit() as conn:
            row = conn.execute(_CLAIM, params).first()
    except Exception:
        log.exception("could not claim %s for polling; the next sweep retries", payment_id)
        return None
    return (SimpleNamespace(**row._mapping), lease_until) if row is not None else None


def _poll(run: _Sweep, payment: Any) -> PollResult:
    result = poll_ref(payment.gateway, payment_ref(payment), run.db_slot)
    with run.lock:
        run.report.polled.append(payment.id)
        if not result.answered:
            run.report.unanswered.append(payment.id)
            run.errors[(payment.gateway, result.error)] += 1
    return result


def _expire(run: _Sweep, payment: Any, payload: dict[str, Any], unreachable: bool = False) -> None:
    update_ = StatusUpdate(gateway=payment.gateway, status=lifecycle.EXPIRED, gateway_status="", source=EXPIRY,
                           payment_id=payment.id, payload=payload, reason=GATEWAY_UNREACHABLE if unreachable else None)
    try:
        with run.db_slot:
            outcome = apply_update(update_)
    except Exception:
        db.session.rollback()
        log.exception("could not expire %s; the next sweep retries", payment.id)
        return
    if outcome.result == "applied":
        with run.lock:
            run.report.expired.append(payment.id)
            if unreachable:
                run.report.unreachable.append(payment.id)


def _release(run: _Sweep, payment_id: str, lease_until: datetime, next_poll_at: datetime | None) -> None:
    """Set the next poll, unless the lease is no longer ours: the door, applying a change,
    has set it already (and released the lease)."""
    params = {"k_id": payment_id, "k_lease": lease_until, "v_next": next_poll_at}
    try:
        with run.db_slot, _autocommit() as conn:
            conn.execute(_RELEASE, params)
    except Exception:
        log.exception("could not reschedule %s; it is polled again when its lease ends", payment_id)


def _log_errors(run: _Sweep) -> None:
    """One line per gateway and error, not one per payment: a backlog during an outage would
    otherwise write thousands of lines per sweep."""
    for (gateway, error), count in run.errors.most_common():
        log.warning("sweep: %d poll(s) at %s got no answer (%s); retried next sweep", count, gateway, error)


def start(app: Flask) -> Any:
    """Run the sweep every PAYHUB_SWEEP_INTERVAL seconds, and once now."""
    from apscheduler.schedulers.background import BackgroundScheduler

    def job() -> None:
        with app.app_context():
            try:
                report = sweep()
                if report.polled:
                    log.info("sweep polled %d (%d without an answer), expired %d in %.1f s", len(report.polled),
                             len(report.unanswered), len(report.expired), report.seconds)
            except Exception:
                db.session.rollback()
                log.exception("sweep failed; the next one will retry")

    scheduler = BackgroundScheduler(timezone="UTC", daemon=True)
    interval = app.config["PAYHUB"].sweep_interval
    scheduler.add_job(job, "interval", seconds=interval, next_run_time=utcnow(), max_instances=1, coalesce=True,
                      misfire_grace_time=max(int(interval), 1))
    if app.config["PAYHUB"].merchant_webhook_url:
        from .outbox import deliver_in

        scheduler.add_job(deliver_in, "interval", args=[app], seconds=OUTBOX_TICK, max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
