#!/usr/bin/env bash
# Set up PayHub on a fresh machine: a virtualenv with the pinned Python packages, and the
# Socket.IO browser client from the npm registry. `--dev` adds the test tools and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ "$dev" = 1 ] && ! command -v chromium >/dev/null; then need_apt+=(chromium); fi
# nginx for the cluster end-to-end tests and scripts/cluster.sh (Debian's package; never started as a service).
if [ "$dev" = 1 ] && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then need_apt+=(nginx); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
requirements=requirements.txt
[ "$dev" = 1 ] && requirements=requirements-dev.txt
echo "==> pip install -r $requirements"
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"

if [ -f package.json ]; then
  echo "==> npm ci (Socket.IO browser client)"
  npm ci --no-audit --no-fund --loglevel=error
fi
