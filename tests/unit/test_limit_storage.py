"""The in-memory rate limit storage sweeps expired keys once a second (payhub/limit_storage.py),
and its limits stay exact: a window still resets on time, whether or not a sweep ran."""

from __future__ import annotations

import time
from types import SimpleNamespace

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from payhub.limit_storage import SWEEP_EVERY, SweptOncePerSecond
from payhub.ratelimit import storage_uri


def test_the_hub_counts_in_the_swept_storage_without_redis():
    settings = SimpleNamespace(rate_limit_storage="", message_queue="")
    storage = storage_from_string(storage_uri(settings))
    assert isinstance(storage, SweptOncePerSecond)


def test_a_stream_of_hits_from_many_addresses_is_swept_about_once_a_second():
    storage = SweptOncePerSecond()
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(1_000)
    started = time.monotonic()
    while time.monotonic() - started < 1.6:
        for address in range(200):
            limiter.hit(item, "t", f"10.0.0.{address}")
        time.sleep(0.005)
    # limits' own storage sweeps every 10 ms while hits come: ~160 walks of every key here.
    assert 1 <= storage.sweeps <= 2, storage.sweeps
    assert SWEEP_EVERY == 1.0


def test_a_window_resets_on_time_whatever_the_sweep():
    storage = SweptOncePerSecond()
    limiter = FixedWindowRateLimiter(storage)
    one_a_second = RateLimitItemPerSecond(1)
    assert limiter.hit(one_a_second, "t", "a")
    assert not limiter.hit(one_a_second, "t", "a")  # the second in the same window is refused
    time.sleep(1.05)
    assert limiter.hit(one_a_second, "t", "a")  # a new window, counted from zero again
    assert isinstance(storage, MemoryStorage)


def test_expired_keys_are_freed_by_the_sweep():
    storage = SweptOncePerSecond()
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(5)
    for address in range(50):
        limiter.hit(item, "t", f"10.0.1.{address}")
    assert len(storage.storage) == 50
    time.sleep(1.2)  # every window over; as in limits' storage, a sweep follows the next hit
    limiter.hit(item, "t", "10.0.2.1")
    time.sleep(SWEEP_EVERY + 0.3)
    assert not [key for key in storage.storage if "10.0.1." in key]  # the 50 dead keys freed
