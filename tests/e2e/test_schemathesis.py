"""Schemathesis, a property-based API tester nobody here wrote, against a live `python app.py`
from its own /openapi.json with the API key: every operation, no 5xx, every answer matching
the documented status codes, content types, headers and schemas.

Every gateway is on, each talking to its local fake, so creating payments really reaches a
gateway. Runs with a fixed seed so CI is reproducible; set SCHEMATHESIS_SEED to explore more,
SCHEMATHESIS_MAX_EXAMPLES for a longer run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.payatom_api import FakePayAtom
from tests.fakes.paytm_api import FakePaytm
from tests.fakes.razorpay_api import FakeRazorpay
from tests.fakes.stripe_api import FakeStripe
from tests.livehub import API_KEY, LiveHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# What we hold the API to. Not checked: `positive_data_acceptance` (a schema cannot say what a
# valid signature, a known order or a gateway's own rules are, so schema-valid callbacks and
# returns are rightly refused with 400/404).
EXCLUDED_CHECKS = "positive_data_acceptance"
# Found by schemathesis and being fixed by their owner go here (e.g. ["--exclude-path", "/x"]), until fixed.
KNOWN_FAILURES: list[str] = []


@pytest.fixture
def gateways():
    fakes = {"razorpay": FakeRazorpay(), "paytm": FakePaytm(), "payatom": FakePayAtom(), "stripe": FakeStripe()}
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


def hub_env(fakes: dict) -> dict[str, str]:
    rz, paytm, payatom, stripe = fakes["razorpay"], fakes["paytm"], fakes["payatom"], fakes["stripe"]
    return {
        "PAYHUB_RAZORPAY_KEY_ID": rz.key_id, "PAYHUB_RAZORPAY_KEY_SECRET": rz.key_secret,
        "PAYHUB_RAZORPAY_WEBHOOK_SECRET": rz.webhook_secret, "PAYHUB_RAZORPAY_BASE_URL": rz.url,
        "PAYHUB_PAYTM_MID": paytm.mid, "PAYHUB_PAYTM_MERCHANT_KEY": paytm.key,
        "PAYHUB_PAYTM_BASE_URL": paytm.url,
        "PAYHUB_PAYATOM_PID": payatom.pid, "PAYHUB_PAYATOM_SECRET_KEY": payatom.secret,
        "PAYHUB_PAYATOM_BASE_URL": payatom.url,
        "PAYHUB_STRIPE_SECRET_KEY": stripe.secret_key, "PAYHUB_STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
        "PAYHUB_STRIPE_BASE_URL": stripe.url,
    }


def test_schemathesis_finds_no_failure_in_any_operation(tmp_path: Path, gateways):
    hub = LiveHub(tmp_path / "hub", **hub_env(gateways)).start()
    report = tmp_path / "junit.xml"
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--no-color", "run", f"{hub.url}/openapi.json",
        "--header", f"Authorization: Bearer {API_KEY}",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261130"),
        "--workers", "1", "--request-timeout", "40", "--generation-database", "none",
        *KNOWN_FAILURES, *os.environ.get("SCHEMATHESIS_EXTRA", "").split(),
        "--report", "junit", "--report-junit-path", str(report),
    ]
    try:
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=800)
    finally:
        hub.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Tested: " in output, output[-5000:]
    assert "Traceback" not in hub.log(), hub.log()[-5000:]
