"""Garbage collection for the long-running server (issue 11).

CPython's full (generation 2) collection walks every container object of the heap while the
whole process waits: every callback in flight and every push. Most of PayHub's heap is built at
start-up (Flask, SQLAlchemy, Socket.IO, the gateways: about 150,000 objects) and never becomes
garbage, so once the app is ready it is frozen (`gc.freeze()`: a permanent generation the
collector never walks). A full collection then walks only what the traffic holds, mostly the
Socket.IO connections. Measured with 1,000 subscribers, the longest pauses fell from about
120-240 ms to the figure in bench/README.md.

Every pause is timed into `payhub_gc_pause_seconds{generation}` (GET /metrics), so a stall in
production can be told apart from a slow database.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

from .metrics import REGISTRY

# Young collections every 700 allocations (CPython's default) cost more CPU than they save
# memory in a request/response server whose garbage is short-lived; the older generations keep
# CPython's factors.
THRESHOLDS = (7000, 10, 10)

GC_PAUSES = Histogram(
    "payhub_gc_pause_seconds", "Garbage collection pauses of this process, by generation", ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), registry=REGISTRY,
)
_started: list[float] = [0.0]


def _time_pause(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def after_startup() -> None:
    """Freeze what start-up built, set the thresholds, time every pause. Call once, when the
    app is ready and before it serves."""
    gc.collect()  # start-up's own garbage is not frozen with the rest
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    for generation in range(3):
        GC_PAUSES.labels(str(generation))  # every series on /metrics from the start, at 0
    if _time_pause not in gc.callbacks:
        gc.callbacks.append(_time_pause)
