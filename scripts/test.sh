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
# In parallel (pytest-xdist): most of the suite's time is spent waiting on live processes, not
# on the CPU. --dist loadgroup keeps each xdist_group on one worker. `-n 0` or `-p no:xdist`
# among the arguments runs it serially.
parallel=(-n 3 --dist loadgroup)
case " $* " in *" no:xdist "* | *"-pno:xdist"*) parallel=() ;; esac
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
