"""Schema migrations (Alembic via Flask-Migrate), on SQLite and PostgreSQL.

- The baseline migration makes exactly the schema that `create_all` made at commit c8213fe
  (the last release without migrations), compared table by table through the inspector.
- A database written by the real c8213fe code (its own `python app.py`: payments, events,
  outbox messages, sandbox ledger) is upgraded in place by the current code, nothing lost,
  and the hub works on it.
- The models and the migrations agree: `flask db check` (an autogenerate run) finds nothing.
- Processes starting together on an empty database do not race through the migration.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import MetaData, create_engine, inspect, select, text

from payhub import schema
from tests.e2e.test_live import Watcher, callback
from tests.livehub import ROOT, LiveHub
from tests.scale.conftest import PG_BASE

pytestmark = [pytest.mark.e2e]

LEGACY = "c8213fe"  # the last commit whose schema was made by create_all
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Columns a migration replaced on purpose: the sweep's lease bookkeeping became next_poll_at (0003).
REPLACED = {"payments": ("poll_lease_until", "last_polled_at")}
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="session")
def legacy_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source of commit c8213fe, unpacked from this repository's history."""
    folder = tmp_path_factory.mktemp(LEGACY)
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", LEGACY], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"cannot read commit {LEGACY} from the repository history: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.fixture
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """new_database(kind) -> the URL of an empty SQLite file or PostgreSQL schema."""
    schemas: list[str] = []

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'db{uuid.uuid4().hex[:8]}.db'}"
        url = request.getfixturevalue("pg_url")  # checks the server (fails under CI if absent)
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        schemas.append(name)
        return url.split("?")[0] + f"?options=-csearch_path%3D{name}"

    yield make
    if schemas:
        import psycopg

        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            for name in schemas:
                conn.execute(f"DROP SCHEMA {name} CASCADE")


def _conninfo() -> str:
    return PG_BASE.replace("postgresql+psycopg://", "postgresql://")


def _clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PAYHUB_", "FLASK_"))} | extra


def build_app_in(tree: Path, url: str, instance: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """create_app() of the code in `tree`, in its own process (c8213fe's runs create_all)."""
    code = "from payhub import create_app; create_app()"
    environ = _clean_env(PAYHUB_DATABASE_URL=url, PAYHUB_INSTANCE_PATH=str(instance), PAYHUB_SCHEDULER="0", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=environ, capture_output=True, text=True,
                          timeout=60)


def describe(url: str) -> dict[str, Any]:
    """Everything the schema comparison checks, per table (alembic's own table aside)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            tables = {}
            for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
                tables[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"), c.get("autoincrement"))
                                for c in found.get_columns(table)],
                    "primary key": found.get_pk_constraint(table),
                    "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                      for i in found.get_indexes(table)),
                    "unique": sorted((u["name"], tuple(u["column_names"]))
                                     for u in found.get_unique_constraints(table)),
                    "foreign keys": sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                                            tuple(f["referred_columns"]), str(sorted(f["options"].items())))
                                           for f in found.get_foreign_keys(table)),
                }
            if engine.dialect.name == "sqlite":  # the DDL itself, whitespace aside
                rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                                         "AND name NOT LIKE 'alembic_version%'"))
                tables["sqlite_master"] = {name: " ".join(sql.split()) for name, sql in rows}
            return tables
    finally:
        engine.dispose()


def rows_of(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every PayHub table, in primary-key order."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: [dict(row._mapping) for row in
                           conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for name, table in meta.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


def version_of(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_baseline_migration_makes_exactly_the_c8213fe_schema(kind, legacy_tree, new_database, tmp_path):
    legacy_url, migrated_url = new_database(kind), new_database(kind)
    made = build_app_in(legacy_tree, legacy_url, tmp_path / "old")
    assert made.returncode == 0, made.stderr
    assert "alembic_version" not in inspect(create_engine(legacy_url)).get_table_names()

    environ = _clean_env(PAYHUB_DATABASE_URL=migrated_url, PAYHUB_INSTANCE_PATH=str(tmp_path / "new"))
    upgraded = subprocess.run([sys.executable, "-m", "flask", "--app", "payhub", "db", "upgrade", schema.BASELINE],
                              cwd=ROOT, env=environ | {"PAYHUB_MIGRATE": "0"}, capture_output=True, text=True,
                              timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    assert version_of(migrated_url) == [schema.BASELINE]

    legacy, migrated = describe(legacy_url), describe(migrated_url)
    assert set(legacy) >= {"payments", "payment_events", "outbox_messages", "sandbox_transactions"}
    for table in legacy:
        assert migrated.get(table) == legacy[table], table
    assert set(migrated) == set(legacy)


@pytest.mark.parametrize("kind", KINDS)
def test_a_database_written_by_c8213fe_upgrades_in_place_with_nothing_lost(kind, legacy_tree, new_database,
                                                                          tmp_path):
    url = new_database(kind)
    env = {"PAYHUB_DATABASE_URL": url, "PAYHUB_SCHEDULER": "0",
           # An unreachable merchant endpoint: the outbox keeps its messages, with failed attempts.
           "PAYHUB_MERCHANT_WEBHOOK_URL": "http://127.0.0.1:9/hook", "PAYHUB_MERCHANT_WEBHOOK_SECRET": WEBHOOK_SECRET}
    old = LiveHub(tmp_path / "hub", root=legacy_tree, **env).start()
    try:
        paid, refused, waiting = old.create(amount=4999, currency="USD"), old.create(), old.create()
        assert callback(old, paid, "success", event_id="evt_paid").status_code == 200
        assert callback(old, paid, "success", event_id="evt_paid").status_code == 200  # a duplicate, recorded
        assert callback(old, refused, "failure").status_code == 200
        assert old.payment(paid["id"])["status"] == "succeeded"
    finally:
        old.stop()
    before = rows_of(url)
    assert "alembic_version" not in inspect(create_engine(url)).get_table_names()
    assert len(before["payments"]) == 3 and len(before["sandbox_transactions"]) == 3
    assert len(before["payment_events"]) >= 3 and len(before["outbox_messages"]) >= 2

    new = LiveHub(tmp_path / "hub", **env, PAYHUB_PORT=str(old.port)).start()
    try:
        assert version_of(url) == [schema.head()]
        after = rows_of(url)
        for table, rows in before.items():
            assert len(after[table]) == len(rows), table
            for old_row, new_row in zip(rows, after[table], strict=True):
                kept = {k: v for k, v in old_row.items() if k not in REPLACED.get(table, ())}
                assert {k: new_row[k] for k in kept} == kept, table
        # The sweep's schedule (0003): open pending and recently closed payments are due again.
        due = {row["id"]: row["next_poll_at"] is not None for row in after["payments"]}
        assert (due[paid["id"]], due[refused["id"]], due[waiting["id"]]) == (False, True, True)

        assert new.payment(paid["id"])["status"] == "succeeded"
        assert new.payment(refused["id"])["status"] == "failed"
        watcher = Watcher(new.url)
        try:
            ack = watcher.subscribe(waiting)  # the token the old release issued still works
            assert ack["ok"] and ack["payment"]["status"] == "pending"
            assert callback(new, waiting, "success").status_code == 200
            assert watcher.next(timeout=10)["status"] == "succeeded"
        finally:
            watcher.close()
        fresh = new.create()
        assert callback(new, fresh, "success").status_code == 200
        assert new.payment(fresh["id"])["status"] == "succeeded"
        listed = requests.get(f"{new.url}/api/payments", headers=new.headers, timeout=10).json()
        assert {p["id"] for p in listed["data"]} >= {paid["id"], refused["id"], waiting["id"], fresh["id"]}
    finally:
        new.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_models_and_migrations_agree(kind, new_database, tmp_path):
    """An autogenerate run against a fully upgraded database finds nothing to add."""
    url = new_database(kind)
    checked = subprocess.run([sys.executable, "-m", "flask", "--app", "payhub", "db", "check"], cwd=ROOT,
                             env=_clean_env(PAYHUB_DATABASE_URL=url, PAYHUB_INSTANCE_PATH=str(tmp_path)),
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    assert version_of(url) == [schema.head()]


@pytest.mark.parametrize("kind", KINDS)
def test_processes_starting_together_migrate_once_without_racing(kind, new_database, tmp_path):
    url = new_database(kind)
    code = "from payhub import create_app; create_app()"
    starts = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_clean_env(PAYHUB_DATABASE_URL=url, PAYHUB_SCHEDULER="0",
                                                         PAYHUB_INSTANCE_PATH=str(tmp_path / f"p{n}")))
              for n in range(4)]
    for process in starts:
        _, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
    assert version_of(url) == [schema.head()]
    assert set(describe(url)) >= {"payments", "payment_events", "outbox_messages", "sandbox_transactions"}


@pytest.mark.parametrize("kind", KINDS)
def test_with_migrate_off_a_stale_schema_is_refused_until_flask_db_upgrade(kind, new_database, tmp_path):
    url = new_database(kind)
    environ = _clean_env(PAYHUB_DATABASE_URL=url, PAYHUB_INSTANCE_PATH=str(tmp_path), PAYHUB_MIGRATE="0")
    refused = build_app_in(ROOT, url, tmp_path, PAYHUB_MIGRATE="0")
    assert refused.returncode != 0 and "flask --app payhub db upgrade" in refused.stderr
    upgraded = subprocess.run([sys.executable, "-m", "flask", "--app", "payhub", "db", "upgrade"], cwd=ROOT,
                              env=environ, capture_output=True, text=True, timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    assert build_app_in(ROOT, url, tmp_path, PAYHUB_MIGRATE="0").returncode == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_start_waits_while_another_process_holds_the_migration_lock(kind, new_database, tmp_path):
    """What keeps simultaneous starts apart: the lock (PostgreSQL advisory lock / lock file)."""
    url = new_database(kind)
    with _migration_lock_held(kind, url):
        starting = subprocess.Popen([sys.executable, "-c", "from payhub import create_app; create_app()"], cwd=ROOT,
                                    env=_clean_env(PAYHUB_DATABASE_URL=url, PAYHUB_SCHEDULER="0",
                                                   PAYHUB_INSTANCE_PATH=str(tmp_path)),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            starting.wait(timeout=8)  # imports take ~1 s; it is waiting for the lock
        assert "alembic_version" not in inspect(create_engine(url)).get_table_names()
    _, err = starting.communicate(timeout=60)
    assert starting.returncode == 0, err
    assert version_of(url) == [schema.head()]


def _migration_lock_held(kind: str, url: str) -> Any:
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        if kind == "sqlite":
            with open(url.removeprefix("sqlite:///") + ".migrate-lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                yield
            return
        import psycopg

        with psycopg.connect(_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (schema.ADVISORY_LOCK,))
            yield
    return held()
