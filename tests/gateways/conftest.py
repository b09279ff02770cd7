"""Fixtures the gateway test modules share (plain helpers are in helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from payhub.extensions import socketio


@pytest.fixture
def subscribe() -> Iterator[Callable[[Flask, dict], Any]]:
    """subscribe(hub, created): a Socket.IO test client on `hub`, subscribed to the created payment
    with its subscribe_token (the subscription must be accepted); disconnected after the test."""
    clients: list[Any] = []

    def connect(hub: Flask, created: dict) -> Any:
        sio = socketio.test_client(hub)
        clients.append(sio)
        ack = sio.emit("subscribe", {"payment_id": created["id"], "token": created["subscribe_token"]}, callback=True)
        assert ack["ok"] is True
        return sio

    yield connect
    for sio in clients:
        sio.disconnect()
