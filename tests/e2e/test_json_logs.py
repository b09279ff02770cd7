"""A real `python app.py` with PAYHUB_LOG_FORMAT=json: every line on stderr is one JSON object,
with the request id a client sent (and got back as X-Request-Id) and the payment id where known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.livehub import API_KEY, ROOT, SANDBOX_SECRET, SECRET_KEY, free_port

pytestmark = pytest.mark.e2e


def test_json_log_lines_name_the_request_and_the_payment(tmp_path: Path):
    port, nobody = free_port(), free_port()  # nothing listens on `nobody`: notifications fail
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | {
        "PAYHUB_PORT": str(port), "PAYHUB_INSTANCE_PATH": str(tmp_path), "PAYHUB_API_KEY": API_KEY,
        "PAYHUB_SECRET_KEY": SECRET_KEY, "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
        "PAYHUB_LOG_FORMAT": "json", "PAYHUB_MERCHANT_WEBHOOK_URL": f"http://127.0.0.1:{nobody}/hook",
        "PAYHUB_MERCHANT_WEBHOOK_SECRET": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
    }
    stderr = tmp_path / "stderr.log"
    with open(stderr, "wb") as err:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, stderr.read_text()
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        bad = requests.post(f"{url}/webhooks/sandbox", data=b'{"transaction_id": "t", "status": "success"}',
                            headers={"Content-Type": "application/json", "X-Payhub-Signature": "sha256=00",
                                     "X-Request-Id": "e2e-req-1"}, timeout=10)
        assert bad.status_code == 400 and bad.headers["X-Request-Id"] == "e2e-req-1"
        payment = requests.post(f"{url}/api/payments", headers=headers, timeout=10, json={
            "order_id": "json-1", "amount": 1000, "currency": "INR", "gateway": "sandbox"}).json()
        assert requests.post(f"{url}/api/payments/{payment['id']}/cancel", headers=headers,
                             timeout=10).status_code == 200

        def entries() -> list[dict]:
            return [json.loads(line) for line in stderr.read_text().splitlines()]  # each line is JSON

        deadline = time.monotonic() + 30
        while not any(e.get("payment_id") == payment["id"] for e in entries()):
            assert time.monotonic() < deadline, stderr.read_text()  # the failed notification is logged
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(15)
    lines = entries()
    rejected = [e for e in lines if "webhook rejected" in e["message"]]
    assert rejected and rejected[0]["request_id"] == "e2e-req-1"
    notified = [e for e in lines if e.get("payment_id") == payment["id"]]
    assert "merchant webhook" in notified[0]["message"]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert API_KEY not in stderr.read_text()
