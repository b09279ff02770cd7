"""Helpers for the security tests: how many rows the database holds, table by table."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from payhub.extensions import db


def row_counts(app: Flask) -> dict[str, int]:
    """Rows per table: what an unauthenticated request must never change."""
    with app.app_context():
        counts = {table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in db.metadata.sorted_tables}
        db.session.remove()
    return counts
