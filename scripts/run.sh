#!/usr/bin/env bash
# Set up (if needed) and run PayHub with the embedded defaults on http://127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py
