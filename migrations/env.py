"""Alembic environment for PayHub.

Two callers: payhub/schema.py at process start (it hands over a connection that already holds
the migration lock), and the `flask --app payhub db ...` commands (Flask-Migrate; the app's
own engine). Batch mode lets later migrations alter SQLite tables.
"""

from logging.config import fileConfig

from alembic import context
from flask import current_app

from payhub import models  # noqa: F401 - registers the tables on the metadata
from payhub.extensions import db
from payhub.models import UTCDateTime

config = context.config
target_metadata = db.metadata


def run_migrations_offline() -> None:
    context.configure(url=str(db.engine.url), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def skip_empty_autogenerate(migration_context, revision, directives) -> None:
    """`flask db migrate` with no model change writes no empty migration."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def render_item(kind, item, autogen_context):
    """Write payhub.models.UTCDateTime as the type it stores, so migrations never import the models."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_with(connection) -> None:
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    options.setdefault("render_as_batch", True)
    options.setdefault("compare_type", True)
    options.setdefault("render_item", render_item)
    context.configure(connection=connection, target_metadata=target_metadata, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        run_with(shared)
        return
    if config.config_file_name:  # the CLI: show alembic's progress lines
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    with db.engine.connect() as connection:
        run_with(connection)
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
