"""Run PayHub: `python app.py` (eventlet by default; PAYHUB_ASYNC_MODE=gevent|threading).

Only this file knows about the async server; payhub/ works under any of them.
"""

from __future__ import annotations

import os
import warnings

ASYNC_MODE = os.environ.get("PAYHUB_ASYNC_MODE", "eventlet")

if ASYNC_MODE == "eventlet":
    with warnings.catch_warnings():
        # eventlet announces its own deprecation (an EventletDeprecationWarning) on import.
        warnings.simplefilter("ignore")
        import eventlet

    eventlet.monkey_patch()

    # psycopg 3 waits on its socket in C (poll) unless it sees gevent: under eventlet every
    # PostgreSQL round trip, and every wait on another process's row lock, would freeze the
    # whole process. It waits through eventlet's hub instead (payhub_pg_wait below).
    import select

    import psycopg.waiting
    from eventlet.hubs import trampoline

    def payhub_pg_wait(gen, fileno, interval=0.0, timeout=None):
        """psycopg's wait on eventlet's hub: psycopg.waiting.wait_select does the same through
        eventlet's green select(), which also sets and cancels a timer per call (a callback
        makes six round trips; measured 0.86 -> 0.71 ms of CPU per seven). A timed wait (a
        cancel) keeps wait_select."""
        if timeout is not None:
            return psycopg.waiting.wait_select(gen, fileno, interval, timeout)
        wait_r, wait_w = psycopg.waiting.WAIT_R, psycopg.waiting.WAIT_W
        try:
            state = next(gen)
            while True:
                if state == wait_r:
                    trampoline(fileno, read=True)
                    state = gen.send(psycopg.waiting.READY_R)
                elif state == wait_w:
                    trampoline(fileno, write=True)
                    state = gen.send(psycopg.waiting.READY_W)
                else:  # both (a query larger than the socket buffer): which one came matters
                    readable, writable, _ = select.select([fileno], [fileno], [])
                    state = gen.send((psycopg.waiting.READY_R if readable else 0)
                                     | (psycopg.waiting.READY_W if writable else 0))
        except StopIteration as done:
            return done.value

    psycopg.waiting.wait = payhub_pg_wait
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import errno  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from payhub import checkpoint, create_app, gc_tuning, logs, scheduler  # noqa: E402
from payhub.extensions import db, socketio  # noqa: E402

# Room for 10,000+ idle subscribers: eventlet's defaults are 1,024 connections and a backlog of 50.
MAX_CONNECTIONS = 20_000
BACKLOG = 4096
# Open files kept for everything but client connections (database, gateways, Redis, logs).
FILE_HEADROOM = 1024
# accept() errors that mean "out of files or memory for now": wait, never end the server.
EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

log = logging.getLogger("payhub.server")


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def connection_limit() -> int:
    """Connections one process serves at once: MAX_CONNECTIONS, or fewer when the open files
    limit would run out first (then the listening backlog holds the rest, nothing fails)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - min(FILE_HEADROOM, soft // 4)))


class Listener:
    """The listening socket as eventlet.wsgi.server uses it, with two guards:

    - an accept() that finds no file descriptor (or memory) left waits and tries again, where
      eventlet.wsgi.server would end on the error (a flood of connections ended the server);
    - one client address holds at most `per_address` connections at once (None: no cap); more
      are closed as soon as accepted, so one address cannot take every connection slot.
    """

    PRUNE_EVERY = 4096  # accepts between two sweeps of the per-address table

    def __init__(self, sock: socket.socket, per_address: int | None = None) -> None:
        self._sock = sock
        self._per_address = per_address
        self._open: dict[str, list[socket.socket]] = {}
        self._accepted = 0
        self._warned = 0.0

    def accept(self):
        while True:
            connection, address = self._accept()
            if self._admit(connection, address):
                return connection, address
            connection.close()

    def _accept(self):
        import eventlet

        while True:
            try:
                return self._sock.accept()
            except OSError as exc:
                if exc.errno not in EXHAUSTED:
                    raise
                self._warn(f"cannot accept connections: {exc.strerror}; waiting")
                eventlet.sleep(0.1)

    def _admit(self, connection: socket.socket, address) -> bool:
        if self._per_address is None:
            return True
        self._accepted += 1
        if self._accepted % self.PRUNE_EVERY == 0:
            self._open = {host: alive for host, held in self._open.items() if (alive := _open_only(held))}
        held = self._open.setdefault(address[0], [])
        if len(held) >= self._per_address:
            held[:] = _open_only(held)
            if len(held) >= self._per_address:
                self._warn(f"{address[0]} holds {len(held)} connections: refusing more")
                return False
        held.append(connection)
        return True

    def _warn(self, message: str) -> None:
        if time.monotonic() - self._warned > 10:  # a flood must not flood the log too
            self._warned = time.monotonic()
            log.warning("%s", message)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def _open_only(connections: list[socket.socket]) -> list[socket.socket]:
    return [c for c in connections if c.fileno() != -1]  # -1: closed since


def announce(app) -> None:
    settings = app.config["PAYHUB"]
    print(f"PayHub on {settings.public_url} (async mode {ASYNC_MODE}, database {settings.database_url.split(':')[0]})",
          flush=True)
    if "api_key" in settings.generated:
        # Printed once, when generated; kept in instance/payhub-secrets.json (mode 0600).
        print(f"Development API key (shown once): {settings.api_key}", flush=True)


class PortInUse(SystemExit):
    """Exit status 1 with the message on stderr."""


def bind(host: str, port: int, settle: float = 10) -> socket.socket:
    """The listening socket, bound without SO_REUSEPORT: a port another process (a second
    PayHub, say) is listening on is a clear error at start, never a silently shared socket.

    A port that only the closing connections of a process just killed still hold (nothing
    listens there any more) is waited for, up to `settle` seconds."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    deadline = time.monotonic() + settle
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only, not a live listener
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise PortInUse(f"PayHub cannot listen on {host}:{port}: {exc.strerror}") from None
            if listening(family, address) or time.monotonic() > deadline:
                raise PortInUse(f"PayHub cannot start: port {port} on {host} is already in use (another PayHub, "
                                "or another program, is listening there). Stop it or set PAYHUB_PORT.") from None
            time.sleep(0.2)
            continue
        sock.listen(BACKLOG)
        return sock


def listening(family: int, address: tuple) -> bool:
    """Whether something accepts connections at `address` right now."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex(address) == 0


def serve(app, listener: socket.socket) -> None:
    settings = app.config["PAYHUB"]
    if ASYNC_MODE == "eventlet":
        import eventlet.wsgi

        # An idle or half-sent connection is closed after idle_timeout: held ones are not free.
        # Behind trusted proxies every connection comes from a proxy: the proxy caps per client.
        per_address = settings.connections_per_address if settings.rate_limits and not settings.trusted_proxies \
            else None
        eventlet.wsgi.server(Listener(listener, per_address), app, max_size=connection_limit(), log_output=False,
                             socket_timeout=settings.idle_timeout, keepalive=settings.idle_timeout)
    else:
        # Werkzeug (threading) and gevent bind their own socket, also without SO_REUSEPORT:
        # ours only proved the port free, and is handed back just before they bind.
        listener.close()
        socketio.run(app, host=settings.host, port=settings.port, allow_unsafe_werkzeug=True, log_output=False)


def configure_logging() -> None:
    logs.configure(*logs.settings_from_env())  # PAYHUB_LOG_LEVEL, PAYHUB_LOG_FORMAT=text|json


def wsgi():
    """The app for another WSGI server, e.g. `gunicorn -k gevent -w 1 'app:wsgi()'` with
    PAYHUB_ASYNC_MODE=gevent. It never runs the scheduler: a worker does
    (`python -m payhub.worker`). One gunicorn worker per process: Socket.IO needs each client
    to stay on one process, which the load balancer in front arranges (deploy/nginx.conf)."""
    configure_logging()
    app = create_app(async_mode=ASYNC_MODE)
    tune(app)
    return app


def tune(app) -> None:
    """Issue 11: SQLite checkpoints off the event loop; start-up heap out of the collector's way
    (last: everything built so far is frozen)."""
    with app.app_context():
        checkpoint.start(db.engine)
    gc_tuning.after_startup()


def main() -> None:
    configure_logging()
    raise_file_limit()
    app = create_app(async_mode=ASYNC_MODE)
    settings = app.config["PAYHUB"]
    # Before the scheduler starts and before "PayHub on …" is printed: a clash is the only output.
    listener = bind(settings.host, settings.port)
    announce(app)
    if settings.scheduler:
        scheduler.start(app)
    tune(app)
    serve(app, listener)


if __name__ == "__main__":
    main()
