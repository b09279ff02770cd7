"""Shared fixtures: an app on a real SQLite file, its clients, and small actions.

`make_app(**overrides)` builds an app from PAYHUB_* settings (the environment is never read);
`api` is a test client that sends the merchant's bearer key; `sandbox_callback` signs and
posts a sandbox gateway callback the way the sandbox gateway does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from payhub import create_app
from payhub.extensions import db
from tests.scale.conftest import pg_url  # noqa: F401  (the fixture, for `database`)

API_KEY = "test-api-key"
SECRET_KEY = "test-secret-key"
SANDBOX_SECRET = "test-sandbox-webhook-secret"


def base_config(tmp_path: Any) -> dict[str, str]:
    return {
        "PAYHUB_INSTANCE_PATH": str(tmp_path),
        "PAYHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'payhub.db'}",
        "PAYHUB_API_KEY": API_KEY,
        "PAYHUB_SECRET_KEY": SECRET_KEY,
        "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
        "PAYHUB_SCHEDULER": "0",
        "PAYHUB_PUBLIC_URL": "http://127.0.0.1:5000",
    }


@pytest.fixture
def make_app(tmp_path: Any) -> Iterator[Callable[..., Flask]]:
    """Build an app; keyword overrides are PAYHUB_* names, e.g. PAYHUB_POLL_AFTER="1"."""
    made: list[Flask] = []

    def build(**overrides: str) -> Flask:
        app = create_app({**base_config(tmp_path), **overrides})
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# Runs a test once on SQLite and once on PostgreSQL: @ON_BOTH_DATABASES, with `app` (or `database`).
ON_BOTH_DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    """make_app overrides for the test's database: SQLite unless parametrized "postgres"."""
    if getattr(request, "param", "sqlite") == "postgres":
        return {"PAYHUB_DATABASE_URL": request.getfixturevalue("pg_url")}
    return {}


@pytest.fixture
def app(make_app: Callable[..., Flask], database: dict[str, str]) -> Flask:
    return make_app(**database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Api:
    """The merchant's backend: a test client that sends the bearer key."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {API_KEY}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers, **kw)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a payment (sandbox, 1000 INR paise unless told) and return the 201 body."""
        body = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 1000, "currency": "INR",
                "gateway": "sandbox", **fields}
        response = self.post("/api/payments", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def payment(self, payment_id: str) -> dict[str, Any]:
        response = self.get(f"/api/payments/{payment_id}")
        assert response.status_code == 200
        return response.get_json()


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def csrf_token(client: FlaskClient, path: str = "/dashboard") -> str:
    """The CSRF token a dashboard page hands this client's session (as a browser would get it)."""
    import re

    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return found.group(1) if found else ""  # the tests of CSRF itself check that there is one


def sign_in(client: FlaskClient, key: str = API_KEY) -> Any:
    """Sign in to the dashboard through its form, CSRF token included."""
    return client.post("/dashboard/signin", data={"api_key": key, "csrf_token": csrf_token(client)})


def sign_sandbox(body: bytes, secret: str = SANDBOX_SECRET) -> str:
    """Computed here with the standard library, independently of payhub.sandbox.adapter."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sandbox_body(transaction_id: str, status: str, amount: int | None = 1000, event_id: str | None = None) -> bytes:
    data = {"transaction_id": transaction_id, "status": status, "amount": amount,
            "event_id": event_id or f"evt_{uuid.uuid4().hex}"}
    return json.dumps(data).encode()


@pytest.fixture
def sandbox_callback(client: FlaskClient) -> Callable[..., Any]:
    """Post a signed sandbox callback: sandbox_callback(payment, "success", amount=1000)."""

    def send(payment: dict[str, Any], status: str, amount: int | None = None, event_id: str | None = None,
             secret: str = SANDBOX_SECRET) -> Any:
        body = sandbox_body(payment["gateway_order_id"], status,
                            payment["amount"] if amount is None else amount, event_id)
        return client.post("/webhooks/sandbox", data=body, content_type="application/json",
                           headers={"X-Payhub-Signature": sign_sandbox(body, secret)})

    return send


@pytest.fixture
def socket_client(app: Flask) -> Callable[[], Any]:
    """Socket.IO test clients on the app (each call connects a new one)."""
    from payhub.extensions import socketio

    clients: list[Any] = []

    def connect() -> Any:
        sio = socketio.test_client(app)
        clients.append(sio)
        return sio

    yield connect
    for sio in clients:
        if sio.is_connected():
            sio.disconnect()
