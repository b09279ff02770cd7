"""A dashboard session's Socket.IO connections end with it (CONTRACT.md §7).

A connection that joins the operators' feed on a signed-in session also joins that session's
own room, `opsess:<session id>`. Signing out closes the room with `socketio.close_room`, which
the message queue carries to every process; each one's client manager (built here) disconnects
the room's members before closing it, so the feed stops wherever the socket lives. The server
does it: a client that ignored a "signed out" message would otherwise keep the feed.

A session also ends by age (operator_sessions.LIFETIME) or when PAYHUB_API_KEY changes, with no
sign-out to announce it; and a queue message can be lost while Redis reconnects. So, while a
process holds operator sockets, it checks their sessions against the database every
CHECK_EVERY seconds (one query) and disconnects those that are no longer open.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from typing import Any

import socketio as python_socketio
from flask import Flask

from . import operator_sessions
from .extensions import socketio

log = logging.getLogger(__name__)

PREFIX = "opsess:"
NAMESPACE = "/"
CHECK_EVERY = 60.0  # seconds; how long an expired session's socket may outlive it


def room_of(token: str) -> str:
    return PREFIX + operator_sessions.session_id(token)


def end(token: str) -> None:
    """Disconnect, in every process, the sockets this session admitted (after the session's
    row is gone: see realtime.on_operators_join for why that order)."""
    socketio.close_room(room_of(token), namespace=NAMESPACE)


class EndsSessionRooms:
    """Client manager mixin: closing a session's room disconnects its members first.

    A manager without a queue closes rooms in close_room; one with a queue (PubSubManager)
    closes them in _handle_close_room, for its own close_room and for each one the queue
    brings from another process. Disconnecting is idempotent: a disconnected socket has left
    every room, so a second pass finds nobody."""

    _checking = False

    def close_room(self, room: Any, namespace: str | None = None) -> Any:
        self._disconnect_members(room, namespace or NAMESPACE)
        return super().close_room(room, namespace)  # type: ignore[misc]

    def _handle_close_room(self, message: dict[str, Any]) -> Any:
        self._disconnect_members(message.get("room"), message.get("namespace") or NAMESPACE)
        return super()._handle_close_room(message)  # type: ignore[misc]

    def _disconnect_members(self, room: Any, namespace: str) -> None:
        if not (isinstance(room, str) and room.startswith(PREFIX)):
            return
        for sid, _eio_sid in list(self.get_participants(namespace, room)):  # type: ignore[attr-defined]
            # ignore_queue: this process's own sockets only; the others hear the close_room.
            self.server.disconnect(sid, namespace, ignore_queue=True)  # type: ignore[attr-defined]

    def session_ids(self) -> list[str]:
        """The sessions whose sockets this process holds."""
        rooms = list(self.rooms.get(NAMESPACE, {}))  # type: ignore[attr-defined]
        return [room[len(PREFIX):] for room in rooms if isinstance(room, str) and room.startswith(PREFIX)]

    def watch(self, app: Flask) -> None:
        """Start checking this process's operator sockets, unless it already does."""
        with _lock:
            if self._checking:
                return
            self._checking = True
        self.server.start_background_task(self._check_loop, app)  # type: ignore[attr-defined]

    def _check_loop(self, app: Flask) -> None:
        while True:
            self.server.sleep(CHECK_EVERY)  # type: ignore[attr-defined]
            with _lock:
                ids = self.session_ids()
                if not ids:  # no operator socket left: the next join starts a new loop
                    self._checking = False
                    return
            try:
                with app.app_context():
                    still = operator_sessions.open_ids(ids, app.config["PAYHUB"])
            except Exception:
                log.warning("could not check the dashboard sessions of %d sockets", len(ids), exc_info=True)
                continue
            for ended in set(ids) - still:
                self._disconnect_members(PREFIX + ended, NAMESPACE)


_lock = threading.Lock()


@cache
def _manager_class(base: type) -> type:
    return type(f"SessionEnding{base.__name__}", (EndsSessionRooms, base), {})


def client_manager(message_queue: str, channel: str = "flask-socketio") -> Any:
    """The Socket.IO client manager Flask-SocketIO would build for this queue (same classes,
    same channel), with EndsSessionRooms mixed in."""
    if not message_queue:
        return _manager_class(python_socketio.Manager)()
    if message_queue.startswith(("redis://", "rediss://")):
        base = python_socketio.RedisManager
    elif message_queue.startswith("kafka://"):
        base = python_socketio.KafkaManager
    elif message_queue.startswith("zmq"):
        base = python_socketio.ZmqManager
    else:
        base = python_socketio.KombuManager
    return _manager_class(base)(message_queue, channel=channel)
