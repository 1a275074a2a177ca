"""The alert ledger in the warehouse: what was recorded, and what reached which team's channel.

``audit.alerts_sent`` — one row per alert_id, written when an alert is first dispatched:

    alert_id, kind, severity, subject_type, subject_id, run_date (the night it was first recorded),
    run_id, status, collapsed_into, teams, destinations, recorded_at, payload (the alert, JSON)

status: ``routed`` (destinations owed), ``recorded`` (nothing to send: demo mode, no team
routed, or below every channel's min_severity), ``collapsed`` (member of a storm summary, whose
id is in collapsed_into). destinations: ``team/email`` and ``team/webhook``, comma-separated.

``audit.alert_deliveries`` — one row per (alert_id, team, channel) that a server accepted.

Both tables are append-only (INSERT ... ON CONFLICT DO NOTHING; nothing is updated or deleted),
so the pipeline's role needs only SELECT and INSERT on them. An alert is *sent* when every one of
its destinations has a delivery row.
"""

from __future__ import annotations

import datetime as dt
from vigil.store.ddl import needs_ddl

AUDIT_SCHEMA = "audit"
ALERTS_SENT = f"{AUDIT_SCHEMA}.alerts_sent"
ALERT_DELIVERIES = f"{AUDIT_SCHEMA}.alert_deliveries"
LEDGER_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {ALERTS_SENT} (
        alert_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        subject_type VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        run_date DATE NOT NULL,
        run_id VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        collapsed_into VARCHAR,
        teams VARCHAR NOT NULL,
        destinations VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        payload VARCHAR NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS {ALERT_DELIVERIES} (
        alert_id VARCHAR NOT NULL,
        team VARCHAR NOT NULL,
        channel VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        delivered_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL,
        PRIMARY KEY (alert_id, team, channel)
    )""",
)
LEDGER_COLUMNS = ("alert_id", "kind", "severity", "subject_type", "subject_id", "run_date", "run_id", "status",
                  "collapsed_into", "teams", "destinations", "recorded_at", "payload")
CHUNK = 400


def ensure_ledger(con) -> None:
    if not needs_ddl(con, ALERTS_SENT, ALERT_DELIVERIES):
        return  # both there (vigil.store.roles made them): a least-privilege role runs no DDL
    for sql in LEDGER_DDL:
        con.execute(sql)


def _select(wh, con, sql: str, params=()) -> list[dict]:
    rows = wh.fetchall(con, sql, params)
    return [dict(zip(LEDGER_COLUMNS, r)) for r in rows]


def existing(wh, con, alert_ids: list[str]) -> dict[str, dict]:
    """Ledger rows of these ids (those already recorded by an earlier dispatch)."""
    found: dict[str, dict] = {}
    ids = sorted(set(alert_ids))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        for row in _select(wh, con, f"SELECT {', '.join(LEDGER_COLUMNS)} FROM {ALERTS_SENT} "
                                    f"WHERE alert_id IN ({', '.join(['%s'] * len(chunk))})", tuple(chunk)):
            found[row["alert_id"]] = row
    return found


def night_rows(wh, con, run_date: dt.date) -> list[dict]:
    return _select(wh, con, f"SELECT {', '.join(LEDGER_COLUMNS)} FROM {ALERTS_SENT} WHERE run_date = %s "
                            f"ORDER BY alert_id", (run_date,))


def owed_rows(wh, con, since: dt.date, until: dt.date) -> list[dict]:
    """Routed alerts recorded between `since` and `until` with a destination not yet delivered."""
    return _select(
        wh, con,
        f"SELECT {', '.join('a.' + c for c in LEDGER_COLUMNS)} FROM {ALERTS_SENT} a "
        f"WHERE a.status = 'routed' AND a.run_date BETWEEN %s AND %s "
        f"AND (SELECT count(*) FROM {ALERT_DELIVERIES} d WHERE d.alert_id = a.alert_id) "
        f"< length(a.destinations) - length(replace(a.destinations, ',', '')) + 1 "
        f"ORDER BY a.alert_id",
        (since, until),
    )


def delivered(wh, con, alert_ids: list[str]) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    ids = sorted(set(alert_ids))
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        out.update(tuple(r) for r in wh.fetchall(
            con, f"SELECT alert_id, team, channel FROM {ALERT_DELIVERIES} "
                 f"WHERE alert_id IN ({', '.join(['%s'] * len(chunk))})", tuple(chunk)))
    return out


def insert_alerts(con, rows: list[tuple]) -> None:
    placeholders = "(" + ", ".join(["%s"] * len(LEDGER_COLUMNS)) + ")"
    for i in range(0, len(rows), 100):
        chunk = rows[i:i + 100]
        con.execute(f"INSERT INTO {ALERTS_SENT} ({', '.join(LEDGER_COLUMNS)}) VALUES "
                    + ", ".join([placeholders] * len(chunk)) + " ON CONFLICT DO NOTHING",
                    tuple(v for r in chunk for v in r))


def insert_deliveries(con, rows: list[tuple]) -> None:
    """rows: (alert_id, team, channel, run_id, delivered_at, outcome)."""
    for i in range(0, len(rows), 200):
        chunk = rows[i:i + 200]
        con.execute(f"INSERT INTO {ALERT_DELIVERIES} (alert_id, team, channel, run_id, delivered_at, outcome) "
                    f"VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk)) + " ON CONFLICT DO NOTHING",
                    tuple(v for r in chunk for v in r))
