#!/usr/bin/env bash
# The reputation simulation on seeds FIRST..LAST (default 1..16), each on a fresh PostgreSQL database of
# its own (the extremizing factor is fitted on every claim in a database, so runs must not share one),
# then the runs pooled: docs/reputation.md's figures over sixteen seeds.
#
#   scripts/reputation-seeds.sh [FIRST [LAST]]
#
# The server: DATABASE_URL's (any database name; each run uses credence_sim_seed_<N> beside it), else
# postgres@127.0.0.1:5432. Reports and dumps go to $CREDENCE_SIM_DIR (default var/sim): seed-<N>.txt is a
# run's report, seed-<N>.json its --dump, pooled.txt the pooled figures. $CREDENCE_SIM_ARGS is passed to
# each run (e.g. "--claims 600").
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
last=${2:-16}
server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
server=${server%/*}
out=${CREDENCE_SIM_DIR:-var/sim}
scripts/bootstrap.sh local
PY=.venv/bin/python
mkdir -p "$out"

database() {  # database create|drop NAME
  $PY - "$server/postgres" "$1" "$2" <<'PY'
import sys, psycopg
url, action, name = sys.argv[1:]
with psycopg.connect(url, autocommit=True) as connection:
    connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
    if action == "create":
        connection.execute(f'CREATE DATABASE "{name}"')
PY
}

dumps=()
for seed in $(seq "$first" "$last"); do
  db="credence_sim_seed_${CREDENCE_SIM_DB_TAG:-}$seed"
  echo "==> seed $seed"
  database create "$db"
  export DATABASE_URL="$server/$db" DJANGO_SETTINGS_MODULE=config.settings.local
  $PY manage.py migrate -v0
  # shellcheck disable=SC2086  # the extra arguments are meant to split
  $PY manage.py reputation_simulate --seed "$seed" --quiet --dump "$out/seed-$seed.json" ${CREDENCE_SIM_ARGS:-} \
    > "$out/seed-$seed.txt"
  grep '^Targets' "$out/seed-$seed.txt"
  database drop "$db"
  dumps+=("$out/seed-$seed.json")
done
$PY manage.py reputation_simulate --pool "${dumps[@]}" | tee "$out/pooled.txt"
