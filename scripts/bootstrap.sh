#!/usr/bin/env bash
# Create or refresh .venv from requirements/<env>.txt. Usage: scripts/bootstrap.sh local|test|production
# Re-installs only when the requirement files changed (a stamp holds their checksum).
set -euo pipefail
cd "$(dirname "$0")/.."
env_name=${1:-local}
python=$(scripts/find-python.sh)
stamp=.venv/.requirements-$env_name
sum=$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
  echo "==> creating .venv with $python"
  rm -rf .venv
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  echo "==> installing requirements/$env_name.txt"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "requirements/$env_name.txt"
  echo "$sum" > "$stamp"
fi
