"""Plain helpers of the sweep's tests: one sweep now, time passing for every payment, a
database that fails."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select, text

from payhub.extensions import db
from payhub.scheduler import SweepReport, sweep
from tests.timetravel import backdate


def run_sweep(app: Flask) -> SweepReport:
    with app.app_context():
        return sweep()


def backdate_all(app: Flask, seconds: float) -> None:
    """backdate() every payment."""
    from payhub.models import Payment

    with app.app_context():
        ids = list(db.session.execute(select(Payment.id)).scalars())
        db.session.rollback()
    for payment_id in ids:
        backdate(app, payment_id, seconds)


def break_poll_events(app: Flask) -> Callable[[], None]:
    """Make the database refuse to store poll events, as a full disk or a failing replica would:
    a real database error inside the door's transaction. Returns the repair."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(text(
                "CREATE TRIGGER poll_events_fail BEFORE INSERT ON payment_events WHEN NEW.source = 'poll' "
                "BEGIN SELECT RAISE(ABORT, 'no space left on device'); END"))
            undo = ["DROP TRIGGER poll_events_fail"]
        else:
            db.session.execute(text(
                "CREATE FUNCTION poll_events_fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no space left on device'; END $$"))
            db.session.execute(text(
                "CREATE TRIGGER poll_events_fail BEFORE INSERT ON payment_events FOR EACH ROW "
                "WHEN (NEW.source = 'poll') EXECUTE FUNCTION poll_events_fail()"))
            undo = ["DROP TRIGGER poll_events_fail ON payment_events", "DROP FUNCTION poll_events_fail()"]
        db.session.commit()

    def repair() -> None:
        with app.app_context():
            for statement in undo:
                db.session.execute(text(statement))
            db.session.commit()

    return repair
