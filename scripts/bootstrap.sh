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

# The review pack's PDF embeds a TrueType font covering Chinese, Japanese and Korean (ReportLab
# embeds TrueType outlines only, and no PyPI package ships such a font): WenQuanYi Micro Hei from
# the system's packages where this user may install them. Without it the pack still builds, in a
# Latin-only font, and says so (docs/review-pack.md#pdf). VIGIL_CJK_FONT names another font.
CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ ! -f "$CJK_FONT" ] && [ -z "${VIGIL_CJK_FONT:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing fonts-wqy-microhei (CJK font for the review pack)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 \
                 && apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1; } || true
    fi
    if [ -f "$CJK_FONT" ]; then
        echo "CJK font installed: $CJK_FONT"
    else
        echo "note: no CJK font ($CJK_FONT); the review pack falls back to a Latin-only font." \
             "Install fonts-wqy-microhei (e.g. sudo apt-get install fonts-wqy-microhei) or set VIGIL_CJK_FONT." >&2
    fi
fi
