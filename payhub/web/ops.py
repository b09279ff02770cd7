"""Operator endpoints: /healthz, /readyz, /metrics (CONTRACT.md §7)."""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import generate_latest
from sqlalchemy import func, select, text

from .. import lifecycle, metrics
from ..extensions import db
from ..models import OutboxMessage, Payment, utcnow

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    checks = {"database": _database_ok(), "queue": _queue_ok()}
    ready = all(v in ("ok", "off") for v in checks.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503


def _database_ok() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return "ok"
    except Exception:
        db.session.rollback()
        current_app.logger.exception("readiness: database unreachable")
        return "error"


def _queue_ok() -> str:
    url = current_app.config["PAYHUB"].message_queue
    if not url:
        return "off"
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
        return "ok"
    except Exception as exc:
        current_app.logger.warning("readiness: queue unreachable: %s", type(exc).__name__)
        return "error"


def _metrics_allowed() -> bool:
    """Open unless PAYHUB_METRICS_TOKEN is set; then `Authorization: Bearer <token>`."""
    expected = current_app.config["PAYHUB"].metrics_token
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


@bp.get("/metrics")
def prometheus() -> Any:
    if not _metrics_allowed():
        response = jsonify({"error": {"code": "unauthorized", "message": "send Authorization: Bearer "
                                      "<PAYHUB_METRICS_TOKEN>"}})
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, 401
    _recent_database_gauges(current_app.config["PAYHUB"].metrics_count_every)
    return Response(generate_latest(metrics.REGISTRY), mimetype="text/plain; version=0.0.4")


class _LastCount:
    """When this app last counted the database figures, and the lock one counter holds."""

    def __init__(self) -> None:
        self.at = float("-inf")
        self.lock = threading.Lock()


def _recent_database_gauges(every: float) -> None:
    """Count the database figures at most once every `every` seconds in this process, however
    many scrapes come: /metrics is open by default, and each count is three queries that scan
    the payments. Concurrent scrapes wait for the one count, then serve its figures."""
    last = current_app.extensions.setdefault("payhub.metrics_last_count", _LastCount())
    if time.monotonic() - last.at < every:
        return
    with last.lock:
        if time.monotonic() - last.at < every:  # another scrape counted while this one waited
            return
        _database_gauges()
        last.at = time.monotonic()


def _database_gauges() -> None:
    """What the database holds, counted at scrape time (the same in every process: graph the max)."""
    counts = dict(db.session.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
    for status in lifecycle.STATUSES:
        metrics.PAYMENTS.labels(status).set(counts.get(status, 0))
    # Due for a poll now (the sweep's own schedule: pending ones and late-watch checks alike).
    backlog = select(func.count()).select_from(Payment).where(Payment.next_poll_at <= utcnow())
    metrics.SWEEP_BACKLOG.set(db.session.execute(backlog).scalar_one())
    queued = dict(db.session.execute(
        select(OutboxMessage.state, func.count()).where(OutboxMessage.state != "delivered")
        .group_by(OutboxMessage.state)).all())
    for state in ("pending", "dead"):
        metrics.OUTBOX.labels(state).set(queued.get(state, 0))
    db.session.rollback()
