"""What one signed callback costs PostgreSQL, on the wire (issue 9 benchmark): one transaction of
six round trips (BEGIN, the door's four statements, COMMIT), counted with libpq's own trace, on
connections the pool keeps. A ping per checkout, a connection opened and closed per request, or
a statement more in the door each cost throughput without failing anything else; these fail.
And the cheaper liveness check still replaces connections PostgreSQL killed while they idled."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import pq
from sqlalchemy import event

from payhub import dbpool
from payhub.extensions import db
from tests.conftest import Api, sandbox_body, sign_sandbox

pytestmark = pytest.mark.postgres


class Wire:
    """libpq's trace of every connection of the app's pool (pings at checkout included), and the
    connections the pool opened and closed: what happened between start() and stop()."""

    def __init__(self, engine: Any) -> None:
        self.recording = False
        self.opened, self.closed, self.backend_pids = 0, 0, []
        self._traces: dict[int, Any] = {}  # id(DBAPI connection) -> its trace file
        self._from: dict[int, int] = {}
        event.listen(engine, "connect", self._connect)
        event.listen(engine, "checkin", self._checkin)
        event.listen(engine, "close", self._close)

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        self.backend_pids.append(dbapi_connection.info.backend_pid)
        self.opened += self.recording
        self._traces[id(dbapi_connection)] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self._trace(dbapi_connection)

    def _trace(self, dbapi_connection: Any) -> None:
        dbapi_connection.pgconn.trace(self._traces[id(dbapi_connection)].fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None and not dbapi_connection.closed:
            dbapi_connection.pgconn.untrace()  # flushes what this use wrote
            self._trace(dbapi_connection)

    def _close(self, *_: Any) -> None:
        self.closed += self.recording

    def start(self) -> None:
        self._from = {key: trace.seek(0, 2) for key, trace in self._traces.items()}
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def lines(self) -> list[str]:
        out = []
        for key, trace in self._traces.items():
            trace.seek(self._from.get(key, 0))
            out += trace.read().splitlines()
        return out

    def close(self) -> None:
        """After the pool's connections are closed (libpq writes to these files until then)."""
        for trace in self._traces.values():
            trace.close()

    def round_trips(self) -> int:
        """Exchanges with the server: each ends with one ReadyForQuery."""
        return sum("\tReadyForQuery\t" in line for line in self.lines())


@pytest.fixture
def pg_app(make_app: Any, pg_url: str) -> Any:
    return make_app(PAYHUB_DATABASE_URL=pg_url)


@pytest.fixture
def wire(pg_app: Any) -> Iterator[Wire]:
    with pg_app.app_context():
        db.engine.dispose()  # connections opened at start-up (the schema check): this sees every one
        wire = Wire(db.engine)
    yield wire
    with pg_app.app_context():
        db.session.remove()
        db.engine.dispose()
    wire.close()


def post(app: Any, payment: dict[str, Any]) -> Any:
    body = sandbox_body(payment["gateway_order_id"], "success", payment["amount"], f"evt_{uuid.uuid4().hex}")
    return app.test_client().post("/webhooks/sandbox", data=body, content_type="application/json",
                                  headers={"X-Payhub-Signature": sign_sandbox(body)})


def test_a_callback_is_one_transaction_of_six_round_trips(pg_app, wire):
    api = Api(pg_app.test_client())
    payments = [api.create() for _ in range(8)]
    for payment in payments[:7]:  # the pool's connection is open; psycopg has prepared the statements
        assert post(pg_app, payment).get_json()["result"] == "applied"

    wire.start()
    assert post(pg_app, payments[7]).get_json()["result"] == "applied"
    wire.stop()

    sent = [line.split("\t")[2].strip() for line in wire.lines() if line.startswith("F\t")]
    queries = [line for line in wire.lines() if line.startswith("F\t") and "\tQuery\t" in line]
    assert wire.round_trips() == 6, "\n".join(wire.lines())
    assert [q.split("\t")[-1].strip() for q in queries] == ['"BEGIN"', '"COMMIT"'], sent  # no ping, one transaction
    assert (wire.opened, wire.closed) == (0, 0)


def test_callbacks_in_flight_share_the_pools_connections_and_close_none(pg_app, wire):
    """More callbacks at once than the pool holds: they wait for a connection; none is opened
    for one request and closed after it (a PostgreSQL backend forked and torn down each time)."""
    api = Api(pg_app.test_client())
    size = pg_app.config["PAYHUB"].db_pool_size
    payments = [api.create() for _ in range(3 * (size + 6))]
    answers: list[Any] = []
    wire.start()

    def sender(mine: list[dict[str, Any]]) -> None:
        with pg_app.app_context():
            answers.extend(post(pg_app, payment).get_json()["result"] for payment in mine)

    threads = [threading.Thread(target=sender, args=(payments[i::size + 6],)) for i in range(size + 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    wire.stop()
    assert answers.count("applied") == len(payments)
    assert wire.opened <= size and wire.closed == 0


def test_a_connection_killed_while_idle_is_replaced_before_a_callback_uses_it(pg_app, wire, pg_url, monkeypatch):
    monkeypatch.setattr(dbpool, "PING_IDLE", 0.2)
    api = Api(pg_app.test_client())
    first, second = api.create(), api.create()
    assert post(pg_app, first).get_json()["result"] == "applied"
    kill(pg_url, wire.backend_pids)  # what a PostgreSQL restart does to every open connection

    time.sleep(0.3)  # idle longer than PING_IDLE: pinged at checkout, found dead, replaced
    answer = post(pg_app, second)
    assert answer.status_code == 200 and answer.get_json()["result"] == "applied"


def test_a_connection_killed_right_after_use_fails_one_callback_and_the_pool_heals(pg_app, wire, pg_url):
    """The price of not pinging every checkout: a connection that dies within PING_IDLE of its
    last use fails the callback that gets it (a 500: the gateway resends it, nothing was
    recorded); the pool is then renewed and the resend is applied."""
    api = Api(pg_app.test_client())
    first, second = api.create(), api.create()
    assert post(pg_app, first).get_json()["result"] == "applied"
    kill(pg_url, wire.backend_pids)

    assert post(pg_app, second).status_code == 500
    assert post(pg_app, second).get_json()["result"] == "applied"
    assert Api(pg_app.test_client()).payment(second["id"])["status"] == "succeeded"


def kill(pg_url: str, pids: list[int]) -> None:
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # returns once it is gone
