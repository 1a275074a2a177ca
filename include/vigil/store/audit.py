"""The append-only audit log: one row per state change of anything Vigil issues.

``audit.audit_log`` was first created by the circuit breakers (include/vigil/gates/breakers.py) with the
columns ``event_id, occurred_at, run_date, event, actor, details``. Those stay, in that order, and
the ticket lifecycle adds ``run_id, target_system, rule_version, input_hashes, outcome, subject,
ticket_id`` (all nullable). An older table gets the missing columns with
``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``.

Nothing here ever updates or deletes a row; the pipeline's roles are granted INSERT only
(include/vigil/store/migrations). ``subject`` is a pseudonym (employee_id), never a name; ``actor`` is the
service (``vigil-tickets``) or the person who approved.

An event may carry a deterministic ``event_id`` (e.g. "created" of one ticket): appending it again
is a no-op, so a rerun of the same night adds nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from vigil.store.ddl import needs_ddl

AUDIT_SCHEMA = "audit"
AUDIT_LOG = f"{AUDIT_SCHEMA}.audit_log"

#: The breakers' original columns, in their order (their INSERT relies on it).
BASE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR PRIMARY KEY"),
    ("occurred_at", "TIMESTAMPTZ NOT NULL"),
    ("run_date", "DATE"),
    ("event", "VARCHAR NOT NULL"),
    ("actor", "VARCHAR NOT NULL"),
    ("details", "VARCHAR NOT NULL"),
)
#: Added for the ticket lifecycle (issue 5); nullable so older rows and writers stay valid.
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("target_system", "VARCHAR"),
    ("rule_version", "VARCHAR"),
    ("input_hashes", "VARCHAR"),  # JSON text: {source file: sha256}
    ("outcome", "VARCHAR"),       # HTTP status, "written", "disabled", ...
    ("subject", "VARCHAR"),       # pseudonym, e.g. employee_id
    ("ticket_id", "VARCHAR"),
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in BASE_COLUMNS + EXTRA_COLUMNS)
#: Who appends the pipeline's own events (breaker holds, publishes, discarded raw partitions).
SERVICE_ACTOR = "vigil"


def ensure_audit_log(wh, con) -> None:
    """Create audit.audit_log, or add the lifecycle columns to an older one (idempotent)."""
    if needs_ddl(con, AUDIT_LOG):  # else made by vigil.store.roles: a least-privilege role runs no DDL
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}")
        columns = ",\n    ".join(f"{name} {ddl}" for name, ddl in BASE_COLUMNS + EXTRA_COLUMNS)
        con.execute(f"CREATE TABLE IF NOT EXISTS {AUDIT_LOG} (\n    {columns}\n)")
    present = {
        r[0]
        for r in wh.fetchall(
            con,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (AUDIT_SCHEMA, "audit_log"),
        )
    }
    for name, ddl in EXTRA_COLUMNS:
        if name not in present:
            con.execute(f"ALTER TABLE {AUDIT_LOG} ADD COLUMN IF NOT EXISTS {name} {ddl}")


def _json(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _row(event: dict, now: dt.datetime) -> tuple:
    if not event.get("event"):
        raise ValueError("an audit event needs an 'event'")
    if not event.get("actor"):
        raise ValueError("an audit event needs an 'actor' (the service or the approving person)")
    unknown = set(event) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown audit event fields: {', '.join(sorted(unknown))}")
    outcome = event.get("outcome")
    return (
        event.get("event_id") or str(uuid.uuid4()),
        event.get("occurred_at") or now,
        event.get("run_date"),
        event["event"],
        event["actor"],
        _json(event.get("details") or {}),
        event.get("run_id"),
        event.get("target_system"),
        event.get("rule_version"),
        _json(event.get("input_hashes")),
        None if outcome is None else str(outcome),
        event.get("subject"),
        event.get("ticket_id"),
    )


def append_audit_events(wh, con, events: list[dict]) -> int:
    """Append events inside the caller's transaction; returns how many rows were added.

    Each event is a dict with ``event`` and ``actor`` (required) and any of the other columns
    (``details`` and ``input_hashes`` may be dicts: stored as JSON text). ``occurred_at``
    defaults to now (UTC). Events whose ``event_id`` is already in the log are skipped.
    """
    if not events:
        return 0
    now = dt.datetime.now(dt.timezone.utc)
    rows = [_row(e, now) for e in events]
    ids = [r[0] for r in rows]
    existing: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        existing.update(
            r[0] for r in wh.fetchall(
                con, f"SELECT event_id FROM {AUDIT_LOG} WHERE event_id IN ({', '.join(['%s'] * len(chunk))})",
                tuple(chunk),
            )
        )
    seen: set[str] = set()
    fresh = []
    for r in rows:
        if r[0] in existing or r[0] in seen:
            continue
        seen.add(r[0])
        fresh.append(r)
    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    for i in range(0, len(fresh), 200):
        chunk = fresh[i:i + 200]
        con.execute(
            f"INSERT INTO {AUDIT_LOG} ({', '.join(COLUMNS)}) VALUES " + ", ".join([placeholders] * len(chunk)),
            tuple(v for r in chunk for v in r),
        )
    return len(fresh)


def append_audit(wh, *, run_date: dt.date | None, event: str, actor: str, details: dict, run_id: str | None = None,
                 con=None) -> str:
    """Append one event to the audit log; returns its event_id. `wh`: an open Warehouse; `con`: the
    caller's transaction on it (else one of its own). Append-only: nothing here updates or deletes."""
    event_id = str(uuid.uuid4())
    row = {"event_id": event_id, "run_date": run_date, "event": event, "actor": actor, "details": details,
           "run_id": run_id or details.get("run_id")}
    if con is not None:
        ensure_audit_log(wh, con)
        append_audit_events(wh, con, [row])
        return event_id
    with wh.transaction() as own:
        ensure_audit_log(wh, own)
        append_audit_events(wh, own, [row])
    return event_id
