"""Helpers the gateway test modules share: what a subscriber was pushed, stale payments for the
sweep, fuzzing settings and JSON strategies. Fixtures live in conftest.py next to this file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from payhub.scheduler import SweepReport, sweep
from tests.conftest import Api
from tests.fakes import FakeServer
from tests.timetravel import backdate

# A hub whose gateway calls time out fast, whose refresh is never throttled and whose sweep
# leaves a payment alone for its first minute.
FLOW_SETTINGS = {"PAYHUB_GATEWAY_TIMEOUT": "0.5", "PAYHUB_REFRESH_INTERVAL": "0.001", "PAYHUB_POLL_AFTER": "60"}


def serving(fake: FakeServer) -> Iterator[FakeServer]:
    """The body of a `fake` fixture: the fake runs for one test, which fails if a handler crashed."""
    with fake:
        yield fake
    assert not fake.errors


def pushed(sio: Any) -> list[dict]:
    """The payment_status views a Socket.IO test client received since the last call."""
    return [m["args"][0] for m in sio.get_received() if m["name"] == "payment_status"]


def told_again(views: list[dict]) -> bool:
    """An applied update and its resend: the resend repeats the same view (the first delivery may
    have died before its push, payhub/door.py), nothing new."""
    return len(views) == 2 and views[0] == views[1]


def unchanged(api: Api, created: dict, sio: Any) -> bool:
    """Nothing was pushed and the payment is still at its first version."""
    return pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def sweep_after(hub: Flask, payment_id: str, seconds: float) -> SweepReport:
    """Make the payment `seconds` older than it is, then run one sweep."""
    backdate(hub, payment_id, seconds)
    with hub.app_context():
        return sweep()


def fuzzing(max_examples: int, *suppress: HealthCheck) -> settings:
    """Hypothesis settings for tests that take function-scoped fixtures (one app, fake and payment
    serve every example) and talk to a real app: no deadline."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, *suppress])


def any_json(*, text: int, keys: int, width: int, leaves: int, nan: bool = True) -> st.SearchStrategy[Any]:
    """Any JSON value: scalars (strings of up to `text` characters; floats with NaN unless `nan` is
    False) nested in lists and objects (keys of up to `keys` characters) up to `width` wide."""
    floats = st.floats() if nan else st.floats(allow_nan=False)
    return st.recursive(
        st.none() | st.booleans() | st.integers() | floats | st.text(max_size=text),
        lambda inner: st.lists(inner, max_size=width) | st.dictionaries(st.text(max_size=keys), inner, max_size=width),
        max_leaves=leaves,
    )
