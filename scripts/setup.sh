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
# Install only when what we install from changed since the last install (a stamp of its
# hashes), so a restart takes seconds and works offline. Delete the stamp to force it.
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

mode=runtime requirements=requirements.txt
[ "$dev" = 1 ] && mode=dev requirements=requirements-dev.txt
pip_stamp=.venv/.payhub-installed
pip_hash="$(hash_of requirements.txt requirements-dev.txt pyproject.toml)"
had_hash="" had_mode=""
[ -f "$pip_stamp" ] && read -r had_hash had_mode < "$pip_stamp"
if [ "$had_hash" != "$pip_hash" ] || { [ "$mode" = dev ] && [ "$had_mode" != dev ]; }; then
  echo "==> pip install -r $requirements"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
  echo "==> pip install -e . (the payhub command)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$pip_hash $mode" > "$pip_stamp"
else
  echo "==> Python packages up to date ($pip_stamp)"
fi

npm_stamp=node_modules/.payhub-installed
npm_hash="$(hash_of package.json package-lock.json)"
if [ -f package.json ] && [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_hash" ]; then
  echo "==> npm ci (Socket.IO browser client, Swagger UI)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > "$npm_stamp"
elif [ -f package.json ]; then
  echo "==> npm packages up to date ($npm_stamp)"
fi
