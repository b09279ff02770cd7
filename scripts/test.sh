#!/usr/bin/env bash
# Set up (if needed) and run every test: lint, unit, integration, gateway, end-to-end and
# browser tests. PostgreSQL (127.0.0.1:5432, database test) and Redis (127.0.0.1:6379) are
# used when running; with CI set, their absence fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
echo "==> ruff check"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
