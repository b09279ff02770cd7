"""When the sweep next polls a payment: the `next_poll_at` column (CONTRACT.md §6).

One indexed column drives the whole sweep, so each sweep is one index range scan
(`next_poll_at <= sweep start`), whatever mix of payments is due:

- a payment opened at its gateway is first due at created_at + min(POLL_AFTER, EXPIRE_AFTER)
  (whichever is smaller: a payment is polled from then on, so it can expire even when
  EXPIRE_AFTER < POLL_AFTER);
- while pending, it is due again at the next sweep;
- when it closes as failed, expired or cancelled (the door sets it), it is due at each age of
  PAYHUB_LATE_WATCH past closing, then never again; any other status is never polled.

The same column is the poll lease: a sweep claims a due payment by moving `next_poll_at` past
the end of the poll (now + lease), and afterwards sets the next due time only if the lease is
still its own (the door replaces it whenever the status changes). No other process, nor the next
sweep, can claim the payment while the poll runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from . import lifecycle

# Closed, but late money can still arrive: the late watch polls these.
WATCHED = frozenset({lifecycle.FAILED, lifecycle.EXPIRED, lifecycle.CANCELLED})


def _settings() -> Any:
    return current_app.config["PAYHUB"]


def first_poll(created_at: datetime, settings: Any = None) -> datetime:
    """When a payment just opened at its gateway is first polled."""
    settings = settings or _settings()
    return created_at + timedelta(seconds=min(settings.poll_after, settings.expire_after))


def after_change(status: str, changed_at: datetime) -> datetime | None:
    """The next poll of a payment whose status has just changed to `status` (the door calls this)."""
    if status in WATCHED:
        return late_watch_after(changed_at, changed_at)
    return None


def late_watch_after(closed_at: datetime, now: datetime) -> datetime | None:
    """The first late-watch step still ahead of `now`, for a payment closed at `closed_at`; None
    once the last step is behind (a sweep that ran late skips the steps it missed, not polls them
    all at once)."""
    for age in _settings().late_watch:
        due = closed_at + timedelta(seconds=age)
        if due > now:
            return due
    return None


def late_watch_due(closed_at: datetime, now: datetime) -> bool:
    """Whether an age of the late watch has come (a payment scheduled otherwise, e.g. by the
    migration that introduced the schedule, is only re-planned)."""
    ages = _settings().late_watch
    return bool(ages) and closed_at + timedelta(seconds=ages[0]) <= now


def lease(settings: Any = None) -> timedelta:
    """How long a claim holds a payment: longer than any poll can take. A gateway call may spend
    its timeout connecting and again reading; the door may wait on a busy database."""
    settings = settings or _settings()
    return timedelta(seconds=max(60.0, 6 * settings.gateway_timeout))


def next_sweep(sweep_started: datetime, settings: Any = None) -> datetime:
    """Due again at the next sweep of any process, but not at another process's sweep that starts
    moments after this one (each payment is polled about once per interval)."""
    settings = settings or _settings()
    return sweep_started + timedelta(seconds=0.9 * settings.sweep_interval)
