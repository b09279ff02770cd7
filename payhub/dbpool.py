"""PostgreSQL connections: a fixed pool, and a liveness check only where one can have died unseen.

Measured on the cluster benchmark (issue 9; one web process, 32 callbacks in flight):

- **No overflow.** Connections beyond `pool_size` (SQLAlchemy's `max_overflow`) are opened for
  one use and closed when handed back while the pool is full, so a load that hovers around the
  pool size opens a new PostgreSQL connection every ten or so callbacks: a backend forked and
  torn down (~6 ms of PostgreSQL CPU and ~1 ms of ours each, measured) and psycopg's prepared
  statements lost with it. A fixed pool keeps every connection; a request that finds none free
  waits for one, and that wait is green (it costs nothing under eventlet or gevent).
- **No ping per checkout.** `pool_pre_ping` costs a round trip (`SELECT 1`) per checkout, one
  in seven of a callback's. A connection handed back less than PING_IDLE seconds ago is used as
  it is; an older one is pinged first, and if the ping fails (a PostgreSQL restart, an idle
  timeout, a firewall) the pool is renewed as pool_pre_ping would. A connection that dies while
  busy, or in the PING_IDLE after its last use, fails that one request (answered 5xx, so a
  gateway resends it), and SQLAlchemy then renews the pool the same way.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

# A connection idle longer than this is pinged before use.
PING_IDLE = 2.0
_RETURNED = "payhub.returned_at"


def engine_options(pool_size: int) -> dict[str, Any]:
    """create_engine() options for PostgreSQL (install() adds the idle ping)."""
    return {"pool_size": pool_size, "max_overflow": 0, "pool_pre_ping": False}


def install(engine: Engine) -> None:
    """Ping connections that sat idle longer than PING_IDLE when they are checked out."""
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", _checkout)


def _returned(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_RETURNED] = time.monotonic()


def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned = record.info.get(_RETURNED)
    if returned is None or time.monotonic() - returned < PING_IDLE:
        return  # just opened, or used a moment ago
    try:
        _ping(dbapi_connection)
    except Exception as error:
        # As pool_pre_ping does: a fresh connection instead of this one, and every connection
        # handed back before now is replaced at its next checkout (a restart killed them all).
        raise exc.InvalidatePoolError(f"idle connection is dead: {error}") from error


def _ping(dbapi_connection: Any) -> None:
    """One round trip outside any transaction (psycopg would otherwise open one with BEGIN)."""
    before = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SELECT 1")
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = before
