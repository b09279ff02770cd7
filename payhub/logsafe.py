"""Log lines nobody can forge (CONTRACT.md §9): control characters in a log message are
escaped, so an order id with a newline in it stays on its own line.

Installed as the process's LogRecord factory, so it holds for every logger and every
formatter (plain text or JSON) without each call site having to remember it. Tracebacks
(exc_info) keep their lines: they are formatted by the formatter, not by getMessage().
"""

from __future__ import annotations

import logging
import re
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
