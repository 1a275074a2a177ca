#!/usr/bin/env bash
# make demo: a week of demo feeds through the nightly pipeline, night by night, as an operator would.
# The first night finds the demo bank's whole backlog of leavers at once, more revocations than the
# breaker allows in one night: it is HELD (exit 3). Like a person would, the script shows the plan,
# approves it (recorded in the audit log) and reruns the night.
# Before the third night runs, it plans a drill for it (`vigil drill`, docs/drills.md): a marked
# synthetic leaver followed through ticket, case and alert into the dry-run sink (<out>/drills/), timed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DEMO=${DEMO:-demo}
START=${DEMO_START:-2026-03-01}
END=${DEMO_END:-2026-03-07}
SCALE=${DEMO_SCALE:-small}
DRILL_DAY=${DEMO_DRILL_DAY:-$(date -ud "$START + 2 days" +%F)}  # the demo's drill night (none if after END)
ARGS=(--demo --landing "$DEMO/landing" --warehouse "$DEMO/warehouse/vigil.duckdb" --out "$DEMO/out")
# Tickets are delivered: a file drop for every system (<out>/filedrop/<system>/<date>/).
ARGS+=(--delivery-config config/delivery.demo.yml)
# Alerts are sent: by e-mail to an SMTP sink on a free loopback port, which files each digest in
# $DEMO/out/mail/new/ (Maildir); config/alerting.demo.yml with that port.
SMTP_PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DEMO/out"
"$BIN/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$DEMO/out/mail" &
SMTP_PID=$!
trap 'kill "$SMTP_PID" 2>/dev/null || true' EXIT
sed "s/@SMTP_PORT@/$SMTP_PORT/" config/alerting.demo.yml > "$DEMO/out/alerting.demo.yml"
ARGS+=(--alerting-config "$DEMO/out/alerting.demo.yml")

days=$(( ($(date -ud "$END" +%s) - $(date -ud "$START" +%s)) / 86400 + 1 ))
"$BIN/vigil" demo-data --landing "$DEMO/landing" --start "$START" --days "$days" --scale "$SCALE" --seed 42
# A new warehouse is always asked for by name (a mistyped path must never start an empty one).
"$BIN/vigil" init --warehouse "$DEMO/warehouse/vigil.duckdb"
day=$START
while [[ "$day" < "$END" || "$day" == "$END" ]]; do
    if [ "$day" == "$DRILL_DAY" ] && [ ! -f "$DEMO/landing/drills/$day/drill.json" ]; then
        # planned before its night runs (vigil drill refuses a night already loaded); the demo's delivery
        # and alerting configurations have no drill channels, so it goes to the dry-run sink only
        VIGIL_WAREHOUSE="$DEMO/warehouse/vigil.duckdb" "$BIN/vigil" drill --date "$day" \
            --landing "$DEMO/landing" --out "$DEMO/out"
    fi
    rc=0
    "$BIN/vigil" run --date "$day" "${ARGS[@]}" || rc=$?
    if [ "$rc" -eq 3 ]; then
        # vigil plan exits 3 while the breaker holds: that is what it shows here, not a failure
        ( "$BIN/vigil" plan --date "$day" "${ARGS[@]}" || [ $? -eq 3 ] ) | tail -n 12
        "$BIN/vigil" approve --date "$day" --by "make demo" \
            --reason "demo: the initial backlog of leavers, reviewed" "${ARGS[@]}"
        "$BIN/vigil" run --date "$day" "${ARGS[@]}"
    elif [ "$rc" -ne 0 ]; then
        exit "$rc"
    fi
    day=$(date -ud "$day + 1 day" +%F)
done
# The settings every other command needs to read the demo (README: "After make demo").
echo
if [ -f "$DEMO/out/drills/$DRILL_DAY/result.json" ]; then
    echo "The demo's drill (night $DRILL_DAY, docs/drills.md): $DEMO/out/drills/$DRILL_DAY/result.json"
fi
echo "Demo ready. To point the vigil commands at it (README, \"After make demo\"):"
echo "  export VIGIL_LANDING=$DEMO/landing VIGIL_WAREHOUSE=$DEMO/warehouse/vigil.duckdb VIGIL_OUT=$DEMO/out VIGIL_MODE=demo VIGIL_DELIVERY_CONFIG=config/delivery.demo.yml"
