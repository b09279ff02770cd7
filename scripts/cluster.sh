#!/usr/bin/env bash
# A real PayHub deployment on one machine: PostgreSQL + Redis (the local ones, started or
# installed where absent), N web processes (PAYHUB_SCHEDULER=0), one worker (sweeps and
# merchant notifications), nginx in front on one port (deploy/nginx.conf).
#
#   scripts/cluster.sh start     # or: start N   (web processes, default 3)
#   scripts/cluster.sh status
#   scripts/cluster.sh stop      # stops everything it started, nothing else
#
# Settings (environment): CLUSTER_PORT (nginx, default 8080), CLUSTER_WEB_PORT (first web
# process, default 8101), CLUSTER_DIR (pids, logs, nginx files, shared instance folder;
# default instance/cluster), PAYHUB_DATABASE_URL (default a `payhub` database on the local
# PostgreSQL, created if missing), PAYHUB_MESSAGE_QUEUE (default the local Redis), and any
# other PAYHUB_* setting, passed to every process.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT=${CLUSTER_PORT:-8080}
WEB_PORT=${CLUSTER_WEB_PORT:-8101}
DIR=${CLUSTER_DIR:-$ROOT/instance/cluster}
PG_HOST=127.0.0.1
PG_PORT=5432

say() { echo "==> $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  say "installing Debian packages: $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {  # stop_pid PIDFILE: TERM, then KILL after 10 s
  local file=$1 pid
  alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

ensure_postgres() {
  if [ -n "${PAYHUB_DATABASE_URL:-}" ]; then return; fi
  if ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -1)
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    echo "$version" > "$DIR/started-postgres"
    for _ in $(seq 50); do pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break; sleep 0.2; done
  fi
  if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'payhub'" \
      | grep -q 1; then
    say "creating database payhub"
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "CREATE DATABASE payhub"
  fi
  export PAYHUB_DATABASE_URL="postgresql+psycopg://postgres@$PG_HOST:$PG_PORT/payhub"
}

ensure_redis() {
  if [ -n "${PAYHUB_MESSAGE_QUEUE:-}" ]; then return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export PAYHUB_MESSAGE_QUEUE="redis://127.0.0.1:6379/0"
}

backends() {  # the upstream server lines for N web processes
  local n=$1 i
  for i in $(seq 0 $((n - 1))); do
    echo "    server 127.0.0.1:$((WEB_PORT + i)) max_fails=1 fail_timeout=5s;"
  done
}

write_nginx_conf() {
  local n=$1 lines
  mkdir -p "$DIR/nginx/tmp"
  chmod 1777 "$DIR/nginx/tmp"  # nginx's workers (user nobody when started as root) buffer here
  lines=$(backends "$n")
  # deploy/nginx.conf with this cluster's backends and port.
  awk -v lines="$lines" -v port="$PORT" '
    /# backends begin/ { print; print lines; skip = 1; next }
    /# backends end/ { skip = 0 }
    skip { next }
    /^    listen 8080;/ { print "    listen 127.0.0.1:" port ";"; next }
    { print }' deploy/nginx.conf > "$DIR/nginx/payhub.conf"
  cat > "$DIR/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 20000; }
http {
    access_log $DIR/nginx/access.log;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;
    include $DIR/nginx/payhub.conf;
}
EOF
}

wait_http() {  # wait_http URL SECONDS
  for _ in $(seq $(($2 * 10))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start() {
  local n=${1:-${CLUSTER_WEB:-3}} i
  [ -x .venv/bin/python ] || bash scripts/setup.sh
  command -v nginx >/dev/null || apt_install nginx
  mkdir -p "$DIR"
  if alive "$DIR/nginx/nginx.pid"; then say "already running (scripts/cluster.sh stop first)"; exit 1; fi
  ensure_postgres
  ensure_redis
  # One instance folder for every process: the same generated secrets (API key, token key).
  export PAYHUB_INSTANCE_PATH="$DIR/instance"
  export PAYHUB_PUBLIC_URL="${PAYHUB_PUBLIC_URL:-http://127.0.0.1:$PORT}"
  # One nginx in front appends the client's address to X-Forwarded-For: trust exactly that one.
  export PAYHUB_TRUSTED_PROXIES="${PAYHUB_TRUSTED_PROXIES:-1}"
  mkdir -p "$PAYHUB_INSTANCE_PATH"
  say "upgrading the database schema"
  .venv/bin/flask --app payhub db upgrade >"$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log" >&2; exit 1; }
  for i in $(seq 0 $((n - 1))); do
    PAYHUB_PORT=$((WEB_PORT + i)) PAYHUB_SCHEDULER=0 nohup .venv/bin/python app.py >"$DIR/web$i.log" 2>&1 &
    echo $! > "$DIR/web$i.pid"
  done
  nohup .venv/bin/python -m payhub.worker >"$DIR/worker.log" 2>&1 &
  echo $! > "$DIR/worker.pid"
  echo "$n" > "$DIR/web-count"
  for i in $(seq 0 $((n - 1))); do
    wait_http "http://127.0.0.1:$((WEB_PORT + i))/healthz" 30 || { say "web process $i did not start:"; tail "$DIR/web$i.log" >&2; stop; exit 1; }
  done
  write_nginx_conf "$n"
  nginx -t -q -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf"
  nginx -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf"
  wait_http "http://127.0.0.1:$PORT/readyz" 15 || { say "nginx does not answer on $PORT"; stop; exit 1; }
  say "PayHub cluster on $PAYHUB_PUBLIC_URL: $n web processes ($WEB_PORT..$((WEB_PORT + n - 1))), 1 worker, nginx"
  say "logs and pids in $DIR; API key in $PAYHUB_INSTANCE_PATH/payhub-secrets.json unless PAYHUB_API_KEY is set"
}

stop() {
  local file
  if alive "$DIR/nginx/nginx.pid"; then
    nginx -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 50); do alive "$DIR/nginx/nginx.pid" || break; sleep 0.1; done
    stop_pid "$DIR/nginx/nginx.pid"
  fi
  for file in "$DIR"/web*.pid "$DIR/worker.pid"; do
    [ -e "$file" ] && stop_pid "$file"
  done
  if [ -f "$DIR/redis.pid" ]; then
    say "stopping the Redis this script started"
    stop_pid "$DIR/redis.pid"
  fi
  if [ -f "$DIR/started-postgres" ]; then
    say "stopping the PostgreSQL this script started"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(cat "$DIR/started-postgres")" main stop || true
    rm -f "$DIR/started-postgres"
  fi
  say "stopped"
}

status() {
  local file code=0
  for file in "$DIR/nginx/nginx.pid" "$DIR"/web*.pid "$DIR/worker.pid"; do
    [ -e "$file" ] || continue
    if alive "$file"; then echo "$(basename "$file" .pid): running (pid $(cat "$file"))"
    else echo "$(basename "$file" .pid): DOWN"; code=1; fi
  done
  curl -fsS "http://127.0.0.1:$PORT/readyz" && echo || code=1
  return $code
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [N] | stop | status" >&2; exit 2 ;;
esac
