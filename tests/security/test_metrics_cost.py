"""GET /metrics is open by default (PAYHUB_METRICS_TOKEN unset): a visitor hammering it must not
load the database. Its database figures are counted at most every PAYHUB_METRICS_COUNT_EVERY
seconds per process, however many scrapes come (CONTRACT §9)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from payhub.extensions import db
from tests.conftest import API_KEY

BURST = 200


class Statements:
    """Every SQL statement the app's real SQLite engine runs while counting."""

    def __init__(self, app) -> None:
        with app.app_context():
            self.engine = db.engine
        self.seen: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args) -> None:
        self.seen.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def payments(client, status: str = "pending") -> float:
    text = client.get("/metrics").get_data(as_text=True)
    return float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith(f'payhub_payments{{status="{status}"}}')))


def create(client) -> None:
    answer = client.post("/api/payments", headers={"Authorization": f"Bearer {API_KEY}"},
                         json={"order_id": f"o-{time.monotonic_ns()}", "amount": 1000, "currency": "INR",
                               "gateway": "sandbox"})
    assert answer.status_code == 201


def scrape(app) -> int:
    return app.test_client().get("/metrics").status_code


def test_a_burst_of_scrapes_costs_the_database_one_count(make_app):
    app = make_app(PAYHUB_METRICS_COUNT_EVERY="30")
    client = app.test_client()
    statements = Statements(app)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: scrape(app), range(BURST)))
    finally:
        statements.close()
    assert answers == [200] * BURST
    # One count: payments by status, the sweep backlog, the outbox (each scrape ran three before).
    assert len(statements.seen) <= 3, statements.seen
    assert payments(client) == 0


def test_the_figures_still_follow_the_database(make_app):
    app = make_app(PAYHUB_METRICS_COUNT_EVERY="0.5")
    client = app.test_client()
    assert payments(client) == 0
    create(client)
    create(client)
    deadline = time.monotonic() + 5
    while payments(client) != 2:
        assert time.monotonic() < deadline, "the payment count never caught up"
        time.sleep(0.1)
    # Counted at every scrape where asked to (another process on the same database).
    every_scrape = make_app(PAYHUB_METRICS_COUNT_EVERY="0").test_client()
    assert payments(every_scrape) == 2
    create(every_scrape)
    assert payments(every_scrape) == 3
