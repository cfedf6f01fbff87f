#!/usr/bin/env bash
# `make test`: lint, migration check and the whole pytest suite on PostgreSQL and Redis.
#
# PostgreSQL: $DATABASE_URL, else the server on 127.0.0.1:5432, else a throwaway cluster started here
# (when PostgreSQL's binaries are installed) and stopped on exit. Redis likewise: $REDIS_URL, else
# 127.0.0.1:6379, else a throwaway redis-server. Without either, it says so and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
PY=.venv/bin/python

cleanup_cmds=()
cleanup() { for c in "${cleanup_cmds[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_answers() { $PY - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}
redis_answers() { $PY -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()' "$1" >/dev/null 2>&1; }

if [ -z "${DATABASE_URL:-}" ]; then
  if pg_answers "postgresql://postgres@127.0.0.1:5432/postgres"; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/credence"
  else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then bindir=$(dirname "$(command -v initdb)"); fi
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
      echo "make test: no PostgreSQL answers on 127.0.0.1:5432 and no PostgreSQL binaries (initdb) are installed." >&2
      echo "Set DATABASE_URL=postgres://user@host:port/db, start a server, or install PostgreSQL." >&2
      exit 2
    fi
    pgdir=$(mktemp -d /tmp/credence-pg.XXXXXX)
    port=$(free_port)
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || { echo "make test: running as root and there is no 'postgres' user to run a throwaway cluster." >&2; exit 2; }
      chown postgres "$pgdir"; as_pg=(runuser -u postgres --)
    fi
    echo "==> starting a throwaway PostgreSQL in $pgdir on port $port"
    "${as_pg[@]}" "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
      -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    cleanup_cmds+=("${as_pg[*]} $bindir/pg_ctl -D $pgdir/data -m immediate stop >/dev/null; rm -rf $pgdir")
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/credence"
  fi
fi

if [ -z "${REDIS_URL:-}" ]; then
  if redis_answers "redis://127.0.0.1:6379/15"; then
    export REDIS_URL="redis://127.0.0.1:6379/15"
  elif command -v redis-server >/dev/null 2>&1; then
    port=$(free_port)
    echo "==> starting a throwaway Redis on port $port"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize no >/dev/null &
    redis_pid=$!
    cleanup_cmds+=("kill $redis_pid")
    for _ in $(seq 50); do redis_answers "redis://127.0.0.1:$port/15" && break; sleep 0.1; done
    export REDIS_URL="redis://127.0.0.1:$port/15"
  else
    echo "make test: no Redis answers on 127.0.0.1:6379 and redis-server is not installed." >&2
    echo "Set REDIS_URL=redis://host:port/db, start a server, or install Redis." >&2
    exit 2
  fi
fi

echo "==> ruff"
.venv/bin/ruff check .
echo "==> the layers (lint-imports, .importlinter)"
.venv/bin/lint-imports --no-cache
echo "==> makemigrations --check"
DJANGO_SETTINGS_MODULE=config.settings.test $PY manage.py makemigrations --check --dry-run
echo "==> pytest (DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL)"
$PY -m pytest "$@"
