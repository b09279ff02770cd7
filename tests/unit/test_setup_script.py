"""scripts/setup.sh installs only when requirements*.txt, pyproject.toml or package*.json
changed since the last install. Run on a scratch copy whose `.venv/bin/python` and `npm`
only record how they were called."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
RECORDER = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


@pytest.fixture
def scratch(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    for name in ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy(ROOT / name, repo / name)
    bin_dir = tmp_path / "bin"
    for path in (repo / ".venv" / "bin" / "python", bin_dir / "npm"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RECORDER)
        path.chmod(0o755)
    calls = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls)}

    def setup(*args: str) -> list[str]:
        """Run setup.sh; the install commands it ran this time."""
        calls.write_text("")
        (repo / "node_modules").mkdir(exist_ok=True)  # what `npm ci` would have made
        result = subprocess.run(["bash", "scripts/setup.sh", *args], cwd=repo, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return calls.read_text().splitlines()

    return repo, setup


def test_first_setup_installs_everything_and_a_second_installs_nothing(scratch):
    _repo, setup = scratch
    first = setup()
    assert "python -m pip install -q --disable-pip-version-check -r requirements.txt" in first
    assert any("-e ." in call for call in first)  # the payhub console script
    assert "npm ci --no-audit --no-fund --loglevel=error" in first
    assert setup() == []


def test_dev_setup_after_runtime_setup_adds_the_dev_packages_once(scratch):
    _repo, setup = scratch
    setup()
    dev = setup("--dev")
    assert any("-r requirements-dev.txt" in call for call in dev)
    assert not any(call.startswith("npm") for call in dev)
    assert setup("--dev") == []
    assert setup() == []  # the dev packages include the runtime ones


@pytest.mark.parametrize("changed", ["requirements.txt", "requirements-dev.txt", "pyproject.toml"])
def test_a_changed_python_requirement_reinstalls_python_packages_only(scratch, changed):
    repo, setup = scratch
    setup()
    with open(repo / changed, "a") as handle:
        handle.write("\n# changed\n")
    again = setup()
    assert any("-r requirements.txt" in call for call in again)
    assert not any(call.startswith("npm") for call in again)
    assert setup() == []


def test_a_changed_package_lock_reruns_npm_ci_only(scratch):
    repo, setup = scratch
    setup()
    lock = repo / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    again = setup()
    assert again == ["npm ci --no-audit --no-fund --loglevel=error"]
    assert setup() == []


def test_a_fresh_virtualenv_or_node_modules_installs_again(scratch):
    repo, setup = scratch
    setup()
    (repo / ".venv" / ".payhub-installed").unlink()
    shutil.rmtree(repo / "node_modules")
    again = setup()
    assert any("-r requirements.txt" in call for call in again)
    assert any(call.startswith("npm ci") for call in again)
