"""Log lines nobody can forge (CONTRACT.md §9): control characters in a log message are
escaped, so an order id with a newline in it stays on its own line. Nor can anyone flood the
log: `FloodGuard` passes a few lines of each kind a minute and counts the rest.

Installed as the process's LogRecord factory, so it holds for every logger and every
formatter (plain text or JSON) without each call site having to remember it. Tracebacks
(exc_info) keep their lines: they are formatted by the formatter, not by getMessage().
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def escape(text: str) -> str:
    r"""`text` with every control character written as an escape (\n, \r, \t, \x1b, \u2028)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SafeRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return escape(super().getMessage())


def install() -> None:
    """Make every log record of this process escape its message (idempotent)."""
    current = logging.getLogRecordFactory()
    if current is SafeRecord or getattr(current, "payhub_safe", False):
        return
    if current is logging.LogRecord:
        logging.setLogRecordFactory(SafeRecord)
        return

    def wrapped(*args: Any, **kwargs: Any) -> logging.LogRecord:  # someone else's factory: keep it
        record = current(*args, **kwargs)
        record.msg, record.args = escape(record.getMessage()), None
        return record

    wrapped.payhub_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(wrapped)


class FloodGuard(logging.Filter):
    """At most `burst` records per `window` seconds for each kind of line (logger and message
    template), then none until the window ends; the next one passed says how many were not.

    A visitor with no key can make the hub log a line per request as fast as they can send
    (a forged webhook, a garbage Socket.IO packet: a 2 KB traceback each); with this the log
    grows by a few lines a minute per kind, whatever the rate."""

    MAX_KINDS = 1000  # message templates are code; more means formatted messages: start over

    def __init__(self, burst: int = 20, window: float = 60) -> None:
        super().__init__()
        self.burst, self.window = burst, window
        self._seen: dict[tuple[str, str], list[float]] = {}  # kind -> [window start, passed, held back]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind, now = (record.name, str(record.msg)), time.monotonic()
        with self._lock:
            if len(self._seen) > self.MAX_KINDS:
                self._seen.clear()
            counts = self._seen.setdefault(kind, [now, 0, 0])
            if now - counts[0] >= self.window:
                held_back = int(counts[2])
                counts[:] = [now, 0, 0]
                if held_back:
                    note = f"{held_back} more like this in the last {self.window:g} s were not logged"
                    record.msg = f"{record.msg} [{note}]"
            if counts[1] >= self.burst:
                counts[2] += 1
                return False
            counts[1] += 1
        return True
