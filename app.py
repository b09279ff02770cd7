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
    # whole process. Its select()-based wait goes through eventlet's green select instead.
    import psycopg.waiting

    psycopg.waiting.wait = psycopg.waiting.wait_select
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import errno  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from payhub import checkpoint, create_app, gc_tuning, logs, scheduler  # noqa: E402
from payhub.extensions import db, socketio  # noqa: E402

# Room for 10,000+ idle subscribers: eventlet's defaults are 1,024 connections and a backlog of 50.
MAX_CONNECTIONS = 20_000
BACKLOG = 4096


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


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

        eventlet.wsgi.server(listener, app, max_size=MAX_CONNECTIONS, log_output=False)
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
