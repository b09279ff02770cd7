"""The `payhub` console script the setup installs into the virtualenv, and `flask payhub …`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.livehub import API_KEY, ROOT, SANDBOX_SECRET, SECRET_KEY, START_TIMEOUT, free_port

pytestmark = pytest.mark.e2e

PAYHUB = Path(sys.executable).parent / "payhub"
COMMANDS = ("run", "sweep", "simulate", "openapi", "worker")


def env_for(folder: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")}
    return clean | {"PAYHUB_INSTANCE_PATH": str(folder), "PAYHUB_API_KEY": API_KEY, "PAYHUB_SECRET_KEY": SECRET_KEY,
                    "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET, **extra}


def payhub(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(PAYHUB), *args], cwd="/", env=env, capture_output=True, text=True, timeout=timeout)


def test_the_console_script_is_installed_in_the_virtualenv_with_help(tmp_path):
    assert PAYHUB.is_file(), "scripts/setup.sh installs .venv/bin/payhub"
    top = payhub("--help", env=env_for(tmp_path))
    assert top.returncode == 0, top.stderr
    for command in COMMANDS:
        assert f"  {command} " in top.stdout
        sub = payhub(command, "--help", env=env_for(tmp_path))
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith(f"Usage: payhub {command}")


def test_payhub_sweep_and_flask_payhub_sweep_do_the_same(tmp_path):
    env = env_for(tmp_path)
    script = payhub("sweep", env=env)
    assert script.returncode == 0, script.stderr
    assert script.stdout.strip() == "polled 0 payment(s), expired 0"
    flask = subprocess.run([sys.executable, "-m", "flask", "--app", "payhub", "payhub", "sweep"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert flask.returncode == 0, flask.stderr
    assert flask.stdout == script.stdout


def test_payhub_openapi_prints_the_served_document(tmp_path):
    from payhub.openapi import build

    result = payhub("openapi", env=env_for(tmp_path, PAYHUB_PUBLIC_URL="https://payhub.example"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(json.dumps(build("https://payhub.example")))


def test_payhub_run_serves_and_payhub_simulate_pays(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for(tmp_path, PAYHUB_PUBLIC_URL=url)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the server's for its lifetime
    server = subprocess.Popen([str(PAYHUB), "run", "--port", str(port)], cwd="/", env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                assert time.monotonic() < deadline, "payhub run did not start"
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        created = requests.post(f"{url}/api/payments", headers=headers, timeout=10, json={
            "order_id": "cli-1", "amount": 1000, "currency": "INR", "gateway": "sandbox"}).json()
        result = payhub("simulate", created["id"], "success", env=env)
        assert result.returncode == 0, result.stderr
        assert "HTTP 200" in result.stdout
        payment = requests.get(f"{url}/api/payments/{created['id']}", headers=headers, timeout=10).json()
        assert payment["status"] == "succeeded"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
        log.close()
    assert f"PayHub on {url}" in (tmp_path / "server.log").read_text()
