"""Outgoing status notifications to the merchant (CONTRACT.md §8), as Standard Webhooks.

`enqueue` runs inside the one door's transaction, so a notification exists exactly when the
change it reports does. `deliver_due` sends what is due, oldest first and in order per
payment, retrying with exponential backoff until a 2xx, for about 24 hours; then the message
is marked dead. Every retry carries the same webhook-id and the same bytes.

Different payments' notifications go out concurrently (a bounded pool), so a merchant endpoint
that hangs on one payment's notification until the timeout holds up only that payment's: only
the first pending message of each payment is ever due, and each is claimed (a lease longer than
the HTTP call) right before it is sent, so one message is never sent twice at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

import requests
from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import aliased

from . import metrics
from .extensions import db, socketio
from .fairpool import FairPool
from .models import OutboxMessage, utcnow
from .views import payment_view

log = logging.getLogger(__name__)

# Seconds after the first failure, the second, ...; the last one repeats.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(seconds=60)  # at least; longer when the HTTP timeout is (see _lease)
BATCH = 100
CONCURRENCY = 16  # deliveries in flight per delivery run
DB_SLOTS = 4  # of which at most this many use a database connection at once
RELIST_EVERY = 0.5  # seconds: while deliveries are in flight, look for newly due messages this often


def enabled() -> bool:
    return bool(current_app.config["PAYHUB"].merchant_webhook_url)


def enqueue(payment: Any) -> None:
    """Add the notification for the payment's new status (a Payment or a row of it) to the current
    transaction."""
    webhook_id = "msg_" + secrets.token_urlsafe(18)
    event_type = f"payment.{payment.status}"
    body = json.dumps({"id": webhook_id, "type": event_type, "payment": payment_view(payment)},
                      separators=(",", ":"))
    db.session.add(OutboxMessage(webhook_id=webhook_id, payment_id=payment.id, event_type=event_type, body=body))


def signing_key(secret: str) -> bytes:
    """The key of a Standard Webhooks secret `whsec_<base64>`."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(signing_key(secret), f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def deliver_in(app: Any) -> None:
    """deliver_due() in an app context, logging instead of raising (the next tick retries)."""
    with app.app_context():
        try:
            deliver_due()
        except Exception:
            db.session.rollback()
            log.exception("merchant webhook delivery failed; the next tick retries")


def kick() -> None:
    """Deliver what is due now, in the background, instead of waiting for the next tick. Kicks
    while a delivery run is going are folded into one more run, not one task each: a sweep
    that expires 10,000 payments starts one runner, not 10,000."""
    app = current_app._get_current_object()
    state = app.extensions.setdefault("payhub.outbox_kick", _KickState())
    with state.lock:
        if state.running:
            state.again = True
            return
        state.running = True
    socketio.start_background_task(_run_kicked, app, state)


class _KickState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = False
        self.again = False


def _run_kicked(app: Any, state: _KickState) -> None:
    """Deliver, and again while kicks came in meanwhile."""
    try:
        while True:
            deliver_in(app)
            with state.lock:
                if not state.again:
                    state.running = False
                    return
                state.again = False
    except BaseException:
        with state.lock:
            state.running = False
        raise


def deliver_due() -> int:
    """Send every due message that is first in line for its payment, several payments' at once,
    looking again as deliveries finish (a delivered message frees the next in line) and while
    they are in flight (new changes keep coming); return once nothing is due or in flight.
    Returns how many were delivered."""
    app = current_app._get_current_object()
    run = _InFlight()
    pool = FairPool(CONCURRENCY, CONCURRENCY, app.app_context, "outbox")
    try:
        while True:
            fresh = run.take(_due_ids())
            for message_id in fresh:
                pool.submit("merchant", lambda message_id=message_id: run.deliver(message_id))
            if not fresh and not run.wait_for_one(RELIST_EVERY):
                break
    finally:
        pool.join()
    return run.delivered


class _InFlight:
    """The messages one delivery run has handed to its workers and not yet seen finish."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ids: set[int] = set()
        self._broken: set[int] = set()  # raised (e.g. a database error): left to the next run
        self._finished = False  # a delivery finished since the last look
        # Deliveries use a database connection only a few at a time, whatever the pool size: web
        # requests (and the sweep) keep connections to work with during a burst.
        self._db_slot = threading.Semaphore(DB_SLOTS)
        self.delivered = 0

    def take(self, due: list[int]) -> list[int]:
        """The due messages this run has not already handed out (and not seen finish since)."""
        with self._cond:
            fresh = [message_id for message_id in due if message_id not in self._ids | self._broken]
            self._ids.update(fresh)
            return fresh

    def deliver(self, message_id: int) -> None:
        sent, ok = 0, False
        try:
            with self._db_slot:
                claimed = _claim(message_id)
            sent = _send(message_id, self._db_slot) if claimed else 0
            ok = True
        except Exception:
            db.session.rollback()  # this worker's session serves its next message
            raise
        finally:
            with self._cond:
                if not ok:
                    self._broken.add(message_id)
                self._ids.discard(message_id)
                self.delivered += sent
                self._finished = True
                self._cond.notify_all()

    def wait_for_one(self, timeout: float) -> bool:
        """Whether to look again: at once if a delivery finished since the last look, else after
        the next one finishes (or `timeout`); never when nothing is in flight (the run is over)."""
        with self._cond:
            if not self._finished:
                if not self._ids:
                    return False
                self._cond.wait(timeout)
            self._finished = False
            return True


def _due_ids() -> list[int]:
    """Due messages that are first in line for their payment, longest waiting first: a message
    is sent only when every older pending message of its payment is gone (delivered or dead),
    and messages in backoff, however many, are never in the way of due ones."""
    now = utcnow()
    older = aliased(OutboxMessage)
    earlier_pending = (
        select(older.id)
        .where(older.payment_id == OutboxMessage.payment_id, older.state == "pending", older.id < OutboxMessage.id)
        .exists()
    )
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
        .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now))
        .where(~earlier_pending)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(BATCH)
    )
    ids = list(db.session.execute(query).scalars())
    db.session.rollback()
    return ids


def _lease() -> timedelta:
    """How long a claim holds a message: longer than the POST can take (connecting and reading
    may each take the whole timeout), so no other runner sends it meanwhile."""
    return max(LEASE, timedelta(seconds=4 * current_app.config["PAYHUB"].gateway_timeout))


def _claim(message_id: int) -> bool:
    now = utcnow()
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
        .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now))
        .values(lease_until=now + _lease())
        .execution_options(synchronize_session=False)
    )
    claimed = db.session.execute(stmt).rowcount == 1
    db.session.commit()
    return claimed


def _send(message_id: int, db_slot: AbstractContextManager[Any] | None = None) -> int:
    """POST a claimed message and record the attempt; `db_slot` is held around the database
    work only, never across the POST."""
    settings = current_app.config["PAYHUB"]
    with db_slot or nullcontext():
        message = db.session.get(OutboxMessage, message_id)
        webhook_id, body = message.webhook_id, message.body
        db.session.rollback()
    error = _post(settings.merchant_webhook_url, settings.merchant_webhook_secret, webhook_id, body,
                  settings.gateway_timeout)
    with db_slot or nullcontext():
        _record_attempt(message_id, error)
    return 1 if error is None else 0


def _post(url: str, secret: str, webhook_id: str, body: str, timeout: float) -> str | None:
    """POST one message; None on a 2xx, else a short description of what went wrong."""
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
               "webhook-timestamp": str(timestamp), "webhook-signature": sign(secret, webhook_id, timestamp, body)}
    try:
        response = requests.post(url, data=body.encode(), headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def _record_attempt(message_id: int, error: str | None) -> None:
    message = db.session.get(OutboxMessage, message_id)
    now = utcnow()
    message.attempts += 1
    message.lease_until = None
    if error is None:
        message.state, message.delivered_at, message.last_error = "delivered", now, None
        metrics.NOTIFICATIONS.labels("delivered").inc()
    else:
        message.last_error = error[:200]
        wait = BACKOFF[min(message.attempts - 1, len(BACKOFF) - 1)]
        message.next_attempt_at = now + timedelta(seconds=wait)
        dead = message.next_attempt_at - message.created_at > GIVE_UP_AFTER
        metrics.NOTIFICATIONS.labels("dead" if dead else "failed").inc()
        if dead:
            message.state = "dead"
            log.error("merchant webhook %s given up after %d attempts: %s", message.webhook_id, message.attempts, error,
                      extra={"payment_id": message.payment_id})
        else:
            log.warning("merchant webhook %s failed (%s); retry in %ss", message.webhook_id, error, wait,
                        extra={"payment_id": message.payment_id})
    db.session.commit()
