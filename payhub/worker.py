"""The worker process of a cluster: the sweep (CONTRACT.md §6) and the merchant notifications'
retries (§8), apart from the web processes.

Web processes run with PAYHUB_SCHEDULER=0, whatever serves them (app.py, gunicorn, any WSGI
server): nothing sweeps in them. One worker runs the scheduler and serves no HTTP; its pushes
reach browsers through the message queue (PAYHUB_MESSAGE_QUEUE). State lives in the database
under leases, so a worker killed at any point and started again carries on, and a second
worker started by mistake polls no payment and sends no notification that the first is
already handling.

Start it with `python -m payhub.worker` (same PAYHUB_* environment as the web processes). It
upgrades the schema at start like every process (under the migration lock).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from . import create_app, logs, scheduler

log = logging.getLogger("payhub.worker")


def main() -> int:
    """Run the worker until SIGTERM or SIGINT."""
    logs.configure(*logs.settings_from_env())  # PAYHUB_LOG_LEVEL, PAYHUB_LOG_FORMAT
    app = create_app()
    settings = app.config["PAYHUB"]
    if not settings.message_queue:
        log.warning("PAYHUB_MESSAGE_QUEUE is not set: changes this worker applies reach no browser until it "
                    "refreshes; a worker is meant for a cluster sharing a message queue")
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        log.info("worker stopping (%s)", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jobs = scheduler.start(app)
    print(f"PayHub worker: sweeping every {settings.sweep_interval:g} s"
          f"{', delivering merchant notifications' if settings.merchant_webhook_url else ''}", flush=True)
    stopping.wait()
    jobs.shutdown(wait=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
