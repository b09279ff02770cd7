"""The sweep (CONTRACT.md §6): poll stale pending payments at their gateway, expire old ones.

State lives in the payments table: a payment is claimed for a sweep by an atomic UPDATE of
its poll lease, so with several processes each payment is polled by at most one of them per
sweep interval, and a restart simply carries on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from . import lifecycle, metrics
from .door import apply_update
from .extensions import db
from .gateways.base import EXPIRY, StatusUpdate
from .models import Payment, utcnow
from .polling import safe_poll

log = logging.getLogger(__name__)

BATCH = 200
OUTBOX_TICK = 2  # seconds between looks at the outbox for due retries


@dataclass
class SweepReport:
    polled: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


@metrics.SWEEP_SECONDS.time()
def sweep() -> SweepReport:
    """One sweep, in the current app context."""
    settings = current_app.config["PAYHUB"]
    metrics.SWEEPS.inc()
    report = SweepReport()
    now = utcnow()
    lease = timedelta(seconds=max(settings.sweep_interval * 0.9, 0.5))
    for payment_id in _stale_ids(now - timedelta(seconds=settings.poll_after), now):
        if not _claim(payment_id, now, now + lease):
            continue
        report.polled.append(payment_id)
        safe_poll(payment_id)
        if _expire_if_due(payment_id, settings.expire_after):
            report.expired.append(payment_id)
    return report


def _stale_ids(cutoff: Any, now: Any) -> list[str]:
    query = (
        select(Payment.id)
        .where(Payment.status == lifecycle.PENDING, Payment.created_at <= cutoff)
        .where(Payment.checkout.is_not(None))  # never opened at its gateway: nothing to poll
        .where(or_(Payment.poll_lease_until.is_(None), Payment.poll_lease_until <= now))
        .order_by(Payment.created_at)
        .limit(BATCH)
    )
    ids = list(db.session.execute(query).scalars())
    db.session.rollback()
    return ids


def _claim(payment_id: str, now: Any, until: Any) -> bool:
    stmt = (
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == lifecycle.PENDING)
        .where(or_(Payment.poll_lease_until.is_(None), Payment.poll_lease_until <= now))
        .values(poll_lease_until=until, last_polled_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = db.session.execute(stmt).rowcount == 1
    db.session.commit()
    return claimed


def _expire_if_due(payment_id: str, expire_after: float) -> bool:
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return False
    db.session.refresh(payment)
    due = payment.status == lifecycle.PENDING and payment.created_at <= utcnow() - timedelta(seconds=expire_after)
    gateway = payment.gateway
    db.session.rollback()
    if not due:
        return False
    outcome = apply_update(StatusUpdate(
        gateway=gateway, status=lifecycle.EXPIRED, gateway_status="", source=EXPIRY,
        payment_id=payment_id, payload={"expire_after_seconds": expire_after},
    ))
    return outcome.result == "applied"


def start(app: Flask) -> Any:
    """Run the sweep every PAYHUB_SWEEP_INTERVAL seconds, and once now."""
    from apscheduler.schedulers.background import BackgroundScheduler

    def job() -> None:
        with app.app_context():
            try:
                report = sweep()
                if report.polled:
                    log.info("sweep polled %d, expired %d", len(report.polled), len(report.expired))
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
