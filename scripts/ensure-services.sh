#!/usr/bin/env bash
# Starts the local PostgreSQL server the tests use, if it is not already accepting connections.
# (Machines here run it as a service; a stopped one is started with the same command.)
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
