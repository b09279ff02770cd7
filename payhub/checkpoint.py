"""SQLite WAL checkpoints off the server's event loop (issue 11).

In WAL mode a commit appends to the -wal file; a checkpoint copies those pages back into the
database file. By default SQLite runs the checkpoint inside the commit that takes the WAL past
1,000 pages, and with synchronous=NORMAL that checkpoint fsyncs the WAL and the database file
(about 5 ms each on the development machine). Under eventlet or gevent a sqlite call blocks the
whole process, so every callback in flight and every push waited for those fsyncs, every couple
of hundred callbacks.

The server turns the automatic checkpoint off on its own connections and checkpoints from a
native thread instead, every second (the sqlite3 module releases the GIL while SQLite works, so
the event loop goes on). Durability is unchanged: the WAL append is the commit, as before; the
checkpoint only moves committed pages into the main file. Other processes on the same file (the
CLI) keep SQLite's automatic checkpoint.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

EVERY = 1.0  # seconds between checkpoints


def _native() -> tuple[Callable[..., Any], Callable[[float], None]]:
    """start_new_thread and sleep as the OS provides them, even when eventlet or gevent has
    patched the modules (a green thread would block the loop on every sqlite call)."""
    try:
        from eventlet import patcher

        if patcher.is_monkey_patched("thread"):
            return patcher.original("_thread").start_new_thread, patcher.original("time").sleep
    except ImportError:
        pass
    try:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            return monkey.get_original("_thread", "start_new_thread"), monkey.get_original("time", "sleep")
    except ImportError:
        pass
    import _thread
    import time

    return _thread.start_new_thread, time.sleep


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def start(engine: Any, every: float = EVERY) -> bool:
    """Take checkpoints off `engine`'s connections and run them in a native thread. Returns False
    (and changes nothing) unless the engine is a SQLite file."""
    path = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return False
    event.listen(engine, "connect", _no_autocheckpoint)
    engine.dispose()  # connections opened before this point would keep the automatic checkpoint
    start_thread, sleep = _native()
    start_thread(_run, (path, every, sleep))
    return True


def _run(path: str, every: float, sleep: Callable[[float], None]) -> None:
    connection = sqlite3.connect(path, timeout=15, check_same_thread=False, isolation_level=None)
    while True:
        sleep(every)
        # PASSIVE: copies what it can without waiting for readers or blocking writers. Busy or
        # locked: the next round tries again (no logging: its locks are green, this thread is not).
        with contextlib.suppress(sqlite3.Error):
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
