"""Fixtures of the sweep's tests: a hub on SQLite and again on PostgreSQL whose sandbox gateway
is a fake status API (helpers.py has the plain helpers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.fakes.sandbox_status import FakeSandboxStatus
from tests.scale.conftest import pg_url  # noqa: F401  (a fixture, for the postgres runs)

# Settings of a hub whose sweep the tests drive by hand (times in seconds).
SWEPT = {"PAYHUB_POLL_AFTER": "60", "PAYHUB_EXPIRE_AFTER": "120", "PAYHUB_SWEEP_INTERVAL": "30",
         "PAYHUB_GATEWAY_TIMEOUT": "0.5", "PAYHUB_LATE_WATCH": "100,200"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each test that uses it runs on SQLite and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'payhub.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def gateway() -> Iterator[FakeSandboxStatus]:
    """The sandbox gateway's status API; the test stops it to play an outage."""
    fake = FakeSandboxStatus()
    with fake:
        yield fake
    assert not fake.errors


@pytest.fixture
def swept_hub(make_app: Callable[..., Flask], database_url: str, gateway: FakeSandboxStatus) -> Callable[..., Flask]:
    """swept_hub(**overrides): a hub on `database_url` that polls `gateway`, with SWEPT settings."""

    def build(**overrides: str) -> Flask:
        return make_app(**{"PAYHUB_DATABASE_URL": database_url, "PAYHUB_SANDBOX_BASE_URL": gateway.url,
                           **SWEPT, **overrides})

    return build
