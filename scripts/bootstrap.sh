#!/usr/bin/env bash
# Creates the virtual environment and installs exactly what requirements.lock pins, then the
# project itself (editable). Needs only Python 3.11+ and the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
UV_VERSION=0.13.8

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"Vigil needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
PY
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
"$VENV/bin/uv" pip sync -q -p "$VENV/bin/python" requirements.lock
"$VENV/bin/uv" pip install -q -p "$VENV/bin/python" --no-deps -e .
echo "installed into $VENV: $("$VENV/bin/vigil" --help >/dev/null && echo vigil CLI ok)"
