"""The in-memory rate limit storage, swept once a second instead of a hundred times.

limits' MemoryStorage (pinned: limits 5.8.0) cleans up after every counted hit with a timer of
10 ms that walks *every* key it holds. Under an attack from many addresses (bench/attack.py:
1,000 long-polling clients and 20 attackers, each address a key per limit) that walk ran about a
hundred times a second and took ~8% of the hub's CPU (py-spy), each walk one uninterrupted
stretch of the event loop. The sweep only frees memory: a fixed window's counter is reset by
`get` when it has expired, whether or not the sweep ran, so sweeping once a second keeps every
limit exact and bounds the memory of dead keys to one second's worth.

Registered as the `payhub-memory://` scheme (limits registers a storage class by its
STORAGE_SCHEME); ratelimit.storage_uri chooses it instead of `memory://`.
"""

from __future__ import annotations

import threading

from limits.storage import MemoryStorage

SWEEP_EVERY = 1.0  # seconds between two sweeps of expired keys


class SweptOncePerSecond(MemoryStorage):
    """MemoryStorage whose clean-up timer fires every SWEEP_EVERY seconds, not every 10 ms."""

    STORAGE_SCHEME = ["payhub-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.sweeps = 0  # how many sweeps ran (tests read it)
        self._replace_timer()

    def _MemoryStorage__schedule_expiry(self) -> None:
        if not self.timer.is_alive():
            self._replace_timer()

    def _replace_timer(self) -> None:
        self.timer.cancel()
        self.timer = threading.Timer(SWEEP_EVERY, self._sweep)
        self.timer.daemon = True
        self.timer.start()

    def _sweep(self) -> None:
        self.sweeps += 1
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
