#!/usr/bin/env bash
# Creates the virtual environment and installs exactly what requirements.lock pins, then the
# project itself (editable). Needs only Python 3.11+ and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
UV_VERSION=0.13.8
TOOLS=.tools/uv-$UV_VERSION

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Vigil needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
PY
# uv lives outside the project venv: `uv pip sync` removes whatever the lock does not list.
if [ ! -x "$TOOLS/bin/uv" ]; then
    "$PYTHON" -m pip install -q --disable-pip-version-check --target "$TOOLS" "uv==$UV_VERSION"
fi
UV="$TOOLS/bin/uv"
[ -x "$VENV/bin/python" ] || "$UV" venv -q -p "$PYTHON" "$VENV"
"$UV" pip sync -q -p "$VENV/bin/python" requirements.lock
"$UV" pip install -q -p "$VENV/bin/python" --no-deps -e .
"$VENV/bin/vigil" --help >/dev/null
echo "installed into $VENV ($("$VENV/bin/python" --version), vigil CLI ok)"
