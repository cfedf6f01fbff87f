#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain and fail.
# Candidates are *run*, not trusted by name: pyenv shims exist for versions that are not selected.
set -u
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
candidates+=(python3.13 python3.12 python3 python)
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for v in "$root"/versions/3.1[2-9]* "$root"/versions/3.[2-9][0-9]*; do
    [ -x "$v/bin/python3" ] && candidates+=("$v/bin/python3")
  done
fi
for c in "${candidates[@]}"; do
  path=$(command -v "$c" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "Credence needs Python >= 3.12 and none was found (tried: ${candidates[*]})." >&2
echo "Install one (e.g. apt-get install python3.12, or pyenv install 3.12) or set PYTHON=/path/to/python3.12." >&2
exit 1
