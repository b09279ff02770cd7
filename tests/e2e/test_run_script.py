"""A second `scripts/run.sh` start installs nothing, so it takes seconds and needs no network:
run here in a network namespace with no way out (loopback only), with pip's log and a
stand-in `npm` watching for any install attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.livehub import API_KEY, ROOT, SANDBOX_SECRET, SECRET_KEY, free_port

pytestmark = pytest.mark.e2e


def _offline_prefix() -> list[str]:
    """Run in a fresh network namespace (only loopback, brought up) where that is allowed."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        return []
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]


def test_second_start_installs_nothing_and_runs_offline(tmp_path: Path):
    # The first setup (what CI's test command just did; here it is a no-op when up to date).
    subprocess.run(["bash", "scripts/setup.sh", "--dev"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm_marker = tmp_path / "npm-was-called"
    (bin_dir / "npm").write_text(f'#!/bin/sh\ntouch "{npm_marker}"\nexit 1\n')
    (bin_dir / "npm").chmod(0o755)
    pip_log = tmp_path / "pip.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYHUB_")} | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "PIP_LOG": str(pip_log),
        "PAYHUB_PORT": str(port), "PAYHUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "PAYHUB_API_KEY": API_KEY, "PAYHUB_SECRET_KEY": SECRET_KEY, "PAYHUB_SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
    }
    output = tmp_path / "run.out"
    started = time.monotonic()
    with open(output, "wb") as out:
        process = subprocess.Popen([*_offline_prefix(), "bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = started + 60
        while "PayHub on" not in output.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, output.read_text()
            time.sleep(0.2)
        text = output.read_text()
        assert f"PayHub on http://127.0.0.1:{port}" in text, text
        elapsed = time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    assert "Python packages up to date" in text and "npm packages up to date" in text, text
    assert not pip_log.exists(), "pip ran on a restart"
    assert not npm_marker.exists(), "npm ran on a restart"
    assert elapsed < 30, f"a restart took {elapsed:.1f} s"
