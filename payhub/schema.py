"""The database schema: Alembic migrations (migrations/ at the repository root), applied at start.

Every process upgrades the database to the newest migration when it starts, one at a time:
on PostgreSQL under an advisory lock, on SQLite under a lock file beside the database, so
N processes started together never race each other through a migration (the first upgrades,
the others find the schema current). A database made before migrations existed (by
`create_all`, up to commit c8213fe) has tables but no `alembic_version`: it is recognised,
stamped at the baseline migration that reproduces exactly that schema, and upgraded from
there, nothing lost. With PAYHUB_MIGRATE=0 a process changes nothing and refuses to start on
a schema that is not current (`flask --app payhub db upgrade` is then the deploy step).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import Connection, inspect, text

from .extensions import db

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The first migration: the schema `create_all` made up to commit c8213fe.
BASELINE = "0001"
# pg_advisory_lock key shared by every PayHub process on one database ("PAYHUB" in ASCII).
ADVISORY_LOCK = 0x504159485542

migrate = Migrate(directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)


class SchemaNotCurrent(RuntimeError):
    """The database is behind (or ahead of) this release's migrations and may not be changed."""


def init_app(app: Flask) -> None:
    """Bind Flask-Migrate (the `flask db ...` commands) and bring the schema up to date."""
    migrate.init_app(app, db)
    with app.app_context():
        if app.config["PAYHUB"].migrate:
            upgrade()
        elif click.get_current_context(silent=True) is None:  # `flask db upgrade` must still load
            require_current()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade() -> None:
    """Upgrade the app's database to the newest migration (in an app context)."""
    with db.engine.connect() as connection, _exclusive(connection):
        config = alembic_config(connection)
        if _made_before_migrations(connection):
            log.info("database made before migrations: stamping it at the baseline %s", BASELINE)
            command.stamp(config, BASELINE)
            connection.commit()
        current = _current(connection)
        if current != head():
            log.info("upgrading the database schema from %s to %s", current or "empty", head())
            command.upgrade(config, "head")
        connection.commit()


def require_current() -> None:
    with db.engine.connect() as connection:
        current = _current(connection)
    if current != head():
        raise SchemaNotCurrent(f"database schema is at {current or 'nothing'}, this release needs {head()}: "
                               "run `flask --app payhub db upgrade` (or start with PAYHUB_MIGRATE=1)")


def _current(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    connection.rollback()
    return heads[0] if len(heads) == 1 else (",".join(heads) or None)


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    connection.rollback()
    return "payments" in tables and "alembic_version" not in tables


@contextlib.contextmanager
def _exclusive(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock: one process migrates at a time."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK})
        connection.commit()  # the lock belongs to the session, not to this transaction
        try:
            yield
        finally:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK})
            connection.commit()
    elif dialect == "sqlite":
        with _sqlite_lock(connection):
            # Table rebuilds (batch migrations) must not trip foreign keys half way; the pragma
            # only takes effect outside a transaction, and is restored for the pool.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                yield
            finally:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    else:
        yield


@contextlib.contextmanager
def _sqlite_lock(connection: Connection) -> Iterator[None]:
    database = connection.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
