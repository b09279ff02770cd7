"""Socket.IO, the subscribers' side: subscribe with a token to a payment's room (or, signed in,
to the operators' feed); publishing.py sends `payment_status` there on every applied change."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, session
from flask_socketio import join_room, leave_room

from . import metrics, operator_sessions, ratelimit, session_sockets, tokens
from .extensions import db, socketio
from .models import Payment
from .publishing import OPERATORS, room
from .views import public_view
from .web.auth import SESSION_KEY, has_api_key, settings

log = logging.getLogger(__name__)


def _verified_id(data: Any) -> str | None:
    """The payment id of a subscribe request whose token is valid for it, else None."""
    if not isinstance(data, dict):
        return None
    payment_id, token = data.get("payment_id"), data.get("token")
    if not isinstance(payment_id, str) or len(payment_id) > 40:
        return None
    settings = current_app.config["PAYHUB"]
    return payment_id if tokens.verify(settings.secret_key, token, payment_id, settings.token_ttl) else None


def on_subscribe(data: Any = None) -> dict[str, Any]:
    if not ratelimit.allow("subscribe"):
        metrics.SUBSCRIPTIONS.labels("rate_limited").inc()
        return {"ok": False, "error": "rate_limited"}
    payment_id = _verified_id(data)
    if payment_id is None:
        metrics.SUBSCRIPTIONS.labels("invalid_token").inc()
        return {"ok": False, "error": "invalid_token"}
    # Join first, read second: a change committed in between is then either in the
    # snapshot or pushed to the room, never neither.
    join_room(room(payment_id))
    payment = db.session.get(Payment, payment_id)
    view = public_view(payment) if payment is not None else None
    db.session.rollback()  # end the read transaction at once
    if view is None:
        leave_room(room(payment_id))
        metrics.SUBSCRIPTIONS.labels("not_found").inc()
        return {"ok": False, "error": "not_found"}
    metrics.SUBSCRIPTIONS.labels("ok").inc()
    return {"ok": True, "payment": view}


def on_unsubscribe(data: Any = None) -> dict[str, Any]:
    payment_id = data.get("payment_id") if isinstance(data, dict) else None
    if isinstance(payment_id, str):
        leave_room(room(payment_id))
    return {"ok": True}


def on_operators_join(data: Any = None) -> dict[str, Any]:
    """The dashboard's feed: only for a connection made with the API key or a signed-in session.

    A session's socket also joins the session's room, before the session is checked: a sign-out
    deletes the row and then closes that room (session_sockets.end), so a sign-out the check
    missed finds the socket in the room and disconnects it."""
    if has_api_key():
        join_room(OPERATORS)
        return {"ok": True}
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return {"ok": False, "error": "unauthorized"}
    join_room(session_sockets.room_of(token))
    if not operator_sessions.is_open(token, settings()):
        leave_room(session_sockets.room_of(token))
        return {"ok": False, "error": "unauthorized"}
    join_room(OPERATORS)
    socketio.server.manager.watch(current_app._get_current_object())
    return {"ok": True}


def on_connect(auth: Any = None) -> None:
    if not ratelimit.allow("socket"):
        # The client's connect_error carries this message.
        raise ConnectionRefusedError("rate_limited")
    metrics.CONNECTED.inc()


def on_disconnect(reason: Any = None) -> None:
    metrics.CONNECTED.dec()


def init_app(app: Any) -> None:
    socketio.on_event("subscribe", on_subscribe)
    socketio.on_event("unsubscribe", on_unsubscribe)
    socketio.on_event("operators_join", on_operators_join)
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
