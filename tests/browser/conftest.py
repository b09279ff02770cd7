"""Real-browser fixtures: headless Chromium (Debian's `chromium`, never a Playwright download)
driven by Playwright against a real `python app.py` (tests/livehub.py).

Without Chromium, Playwright or the npm-installed Socket.IO client these tests skip with the
reason, except on CI (CI=true), where a skip would hide a broken set-up: there they fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.livehub import ROOT, SANDBOX_SECRET, LiveHub

CHROMIUM = os.environ.get("PAYHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def cannot_run(reason: str) -> None:
    """Skip locally; fail on CI, where the browser set-up is part of what is tested."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        cannot_run(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set PAYHUB_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        cannot_run("Playwright for Python is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    """One PayHub process for every browser test (each test uses its own payments)."""
    live = LiveHub(tmp_path_factory.mktemp("browser-hub")).start()
    try:
        if requests.get(f"{live.url}/vendor/socket.io.min.js", timeout=5).status_code != 200:
            cannot_run("the Socket.IO browser client is missing: run `npm ci` in the repository root")
        yield live
    finally:
        live.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """new_page(viewport=PHONE, **context_options) -> a page in a fresh context (own cookies)."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def send_callback(hub: LiveHub, payment: dict[str, Any], status: str, amount: int | None = None) -> requests.Response:
    """What the sandbox gateway sends: a JSON body signed with HMAC-SHA256 (standard library)."""
    body = json.dumps({"transaction_id": payment["gateway_order_id"], "status": status,
                       "amount": payment["amount"] if amount is None else amount,
                       "event_id": f"evt_{uuid.uuid4().hex}"}).encode()
    signature = "sha256=" + hmac.new(SANDBOX_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return requests.post(f"{hub.url}/webhooks/sandbox", data=body, timeout=5,
                         headers={"Content-Type": "application/json", "X-Payhub-Signature": signature})


def status_polls(page: Any, payment: dict[str, Any]) -> list[str]:
    """The status polls the page makes from now on (a list that fills as they happen)."""
    polls: list[str] = []
    path = f"/api/payments/{payment['id']}/status"
    page.on("request", lambda request: polls.append(request.url) if path in request.url else None)
    return polls
