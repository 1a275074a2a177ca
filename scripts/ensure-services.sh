#!/usr/bin/env bash
# Starts the local services the tests use if they are not already running, and installs the one
# system packages the project needs (a CJK font for the review pack's PDF; Chromium, in which a test
# opens the Data Docs offline).
# (Machines here run PostgreSQL and Redis as services; a stopped one is started with the same command.)
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432 (tests marked 'postgres' need it)" >&2; exit 1; }
echo "PostgreSQL is up on 127.0.0.1:5432"

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 15); do redis_up && break; sleep 1; done
fi
redis_up || { echo "Redis is not reachable on 127.0.0.1:6379 (the CeleryExecutor test needs it)" >&2; exit 1; }
echo "Redis is up on 127.0.0.1:6379"

# The review pack's PDF embeds a TrueType font covering Chinese, Japanese and Korean names.
CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ ! -f "$CJK_FONT" ]; then
    echo "installing fonts-wqy-microhei (CJK font for the review pack)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends fonts-wqy-microhei >/dev/null; }
fi
[ -f "$CJK_FONT" ] || { echo "CJK font $CJK_FONT is missing and could not be installed" >&2; exit 1; }
echo "CJK font present: $CJK_FONT"

# tests/gates/test_quality_gates.py opens the Data Docs in headless Chromium with networking disabled.
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (headless browser for the offline Data Docs test)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium is missing and could not be installed" >&2; exit 1; }
echo "chromium present: $(command -v chromium)"
