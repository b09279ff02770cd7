"""The SQLite database is readable by its owner only, like the secrets file (CONTRACT.md §9).

SQLite creates its -wal and -shm files with the mode of the database file, so creating the
database 0600 before the first connection covers all three; files an earlier release left
0644 are tightened at start.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE = 0o600


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):  # URI form: leave it to whoever wrote it
        return None
    return Path(parsed.database)


def secure_sqlite(url: str) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if file.exists() and file.stat().st_mode & 0o777 != PRIVATE:
            os.chmod(file, PRIVATE)
