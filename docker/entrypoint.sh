#!/bin/sh
# Roles of the Credence image. Usage: entrypoint.sh web|live|worker|beat|migrate|manage <args>|<any command>
# MIGRATE_ON_START=1 makes web run the migrations first (single-host setups without the migrate service).
set -eu

case "${1:-web}" in
  migrate)
    exec python manage.py migrate --noinput
    ;;
  web)
    if [ "${MIGRATE_ON_START:-0}" = "1" ]; then
      python manage.py migrate --noinput
    fi
    # Pages and the REST API: WSGI in synchronous worker processes (config/gunicorn.py says why).
    exec gunicorn --config config/gunicorn.py config.wsgi:application
    ;;
  live)
    # Live updates: the ASGI app (Channels' WebSockets) behind the proxy's /ws/ route.
    # --no-proxy-headers: uvicorn would otherwise put its own reading of X-Forwarded-For (the left-most,
    # client-written hop when every peer is trusted) in REMOTE_ADDR; the app reads the header itself, through
    # CREDENCE_TRUSTED_PROXIES. The scheme comes from X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER).
    exec uvicorn config.asgi:application \
      --host 0.0.0.0 --port "${PORT:-8000}" \
      --workers "${LIVE_CONCURRENCY:-2}" \
      --lifespan off \
      --no-proxy-headers \
      --timeout-graceful-shutdown "${WEB_GRACEFUL_TIMEOUT:-20}" \
      --no-server-header
    ;;
  worker)
    # %h is the container's host name, so every replica has a distinct node name.
    exec celery -A config worker \
      --loglevel "${LOG_LEVEL:-INFO}" \
      --concurrency "${CELERY_WORKER_CONCURRENCY:-4}" \
      --hostname "worker@%h"
    ;;
  beat)
    # Exactly one beat per deployment, or every periodic task runs once per beat.
    mkdir -p "${CREDENCE_DATA_DIR:-/data}/celery"
    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}"
    ;;
  manage)
    shift
    exec python manage.py "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
