"""Publishing: what the one door and the creator send to Socket.IO rooms after a commit.

A low-level module (the Socket.IO extension, metrics and the long polls' wake-up only),
imported at the top by the modules that change payments; realtime.py handles the
subscribers' side of the same rooms.
Through the message queue when there is one, so every process's subscribers get it.
"""

from __future__ import annotations

from typing import Any

from . import longpoll, metrics
from .extensions import socketio

EVENT = "payment_status"
OPERATORS = "operators"  # the dashboard's live feed: every payment's changes


def room(payment_id: str) -> str:
    return f"payment:{payment_id}"


def publish(view: dict[str, Any]) -> None:
    """Send a payment's public view to its room and to the operators."""
    with metrics.PUSH_SECONDS.time():
        # One emit to both rooms: with a message queue, one publish (a Redis round trip) and not
        # two; a connection in both rooms gets it once.
        socketio.emit(EVENT, view, to=[room(view["id"]), OPERATORS])
    metrics.PUSHES.inc()
    longpoll.notify(view)  # this process's held long polls on the payment (payhub/longpoll.py)


def announce_created(payment_id: str) -> None:
    """Tell signed-in dashboards that a payment exists, so its row appears at once."""
    socketio.emit("payment_created", {"id": payment_id}, to=OPERATORS)
