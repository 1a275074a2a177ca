"""Follow night D's drill (docs/drills.md) through what the night did with it, and time each step.

The drill's synthetic leaver went through the night's real path: published as a finding, a
revocation ticket, a case, an alert, each delivered to the drill channels or the dry-run sink. A
synthetic incident goes through the incident register's: published (pub_incidents), an incident
case, the severe-incident alert; it has no ticket.
`follow_drill` reads when each happened from the stores those steps write (the audit log's
``published`` event, ``tickets.*``, ``case_delivery.*``, the alert ledger) and records the result:
the audit event ``drill_result`` (one per drill and run; the review pack's Drills table reads the
latest) and ``<out>/drills/<D>/result.json``. A step that did not happen is null: a finding in itself.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from vigil.config import Settings
from vigil.ingest.drills import Drill, read_drill
from vigil.store.audit import SERVICE_ACTOR, append_audit_events, ensure_audit_log
from vigil.store.warehouse import Warehouse

#: The steps the Drills table shows, in the order a drill goes through them.
STEPS = ("detected", "ticket_issued", "ticket_delivered", "case_opened", "case_delivered", "alert_sent")
#: The steps each kind of drill goes through (an incident has no ticket: its ticket steps stay null
#: and are not reported missing).
STEPS_BY_KIND = {"leaver": STEPS, "incident": ("detected", "case_opened", "case_delivered", "alert_sent")}
RESULT_EVENT = "drill_result"


def _ts(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _exists(wh: Warehouse, con, table: str) -> bool:
    schema, name = table.split(".", 1)
    return bool(wh.fetchall(con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s "
                                 "AND table_name = %s", (schema, name))[0][0])


def _first(wh: Warehouse, con, sql: str, params: tuple, *tables: str) -> dt.datetime | None:
    if not all(_exists(wh, con, t) for t in tables):  # the store was never written: the step never happened
        return None
    rows = wh.fetchall(con, sql, params)
    return _ts(rows[0][0]) if rows and rows[0][0] is not None else None


def step_times(wh: Warehouse, drill: Drill, run_date: dt.date, out: Path) -> dict[str, dt.datetime | None]:
    """When each step of the drill first happened (UTC), or None (a step its kind does not go through
    is None too)."""
    e = drill.subject_id
    like = f"%{e}%"
    published, column = (("publish.pub_incidents", "incident_id") if drill.kind == "incident"
                         else ("publish.pub_leaver_access_exposure", "employee_id"))
    with wh.connection() as con:
        found = _exists(wh, con, published) and wh.fetchall(
            con, f"SELECT count(*) FROM {published} WHERE {column} = %s", (e,))[0][0]
        times = {
            "detected": _first(wh, con, "SELECT min(occurred_at) FROM audit.audit_log WHERE event = 'published' "
                                        "AND run_date = %s", (run_date,), "audit.audit_log") if found else None,
            "ticket_issued": _first(wh, con, "SELECT min(created_at) FROM tickets.tickets WHERE employee_id = %s",
                                    (e,), "tickets.tickets"),
            "ticket_delivered": _first(
                wh, con, "SELECT max(a.started_at) FROM tickets.delivery_attempts AS a JOIN tickets.outbox AS o "
                         "ON o.outbox_id = a.outbox_id JOIN tickets.tickets AS t ON t.ticket_id = o.ticket_id "
                         "WHERE t.employee_id = %s AND o.state = 'delivered'", (e,),
                "tickets.delivery_attempts", "tickets.outbox", "tickets.tickets"),
            "case_opened": _first(wh, con, "SELECT min(created_at) FROM case_delivery.documents WHERE payload LIKE %s",
                                  (like,), "case_delivery.documents"),
            "case_delivered": _first(
                wh, con, "SELECT max(a.started_at) FROM case_delivery.delivery_attempts AS a JOIN case_delivery.outbox "
                         "AS o ON o.outbox_id = a.outbox_id JOIN case_delivery.documents AS d ON d.case_id = o.case_id "
                         "WHERE d.payload LIKE %s AND o.state = 'delivered'", (like,),
                "case_delivery.delivery_attempts", "case_delivery.outbox", "case_delivery.documents"),
            "alert_sent": _first(
                wh, con, "SELECT min(coalesce(d.delivered_at, s.recorded_at)) FROM audit.alerts_sent AS s "
                         "LEFT JOIN audit.alert_deliveries AS d ON d.alert_id = s.alert_id "
                         "WHERE s.subject_id = %s AND (d.alert_id IS NOT NULL OR s.status = 'drill_sink')", (e,),
                "audit.alerts_sent", "audit.alert_deliveries"),
        }
    return {s: (times[s] if s in STEPS_BY_KIND[drill.kind] else None) for s in STEPS}


def follow_drill(settings: Settings, run_date: dt.date, run_id: str, *, role: str = "dispatcher") -> dict:
    """Night D's drill result (docs/drills.md); ``{"drills": 0}`` on a night without one."""
    drill = read_drill(settings.landing, run_date)
    if drill is None:
        return {"date": run_date.isoformat(), "drills": 0, "warnings": []}
    wh = Warehouse.open(settings.warehouse_for(role))
    times = step_times(wh, drill, run_date, Path(settings.out))
    result = {
        "drill_id": drill.drill_id, "kind": drill.kind, "run_date": run_date.isoformat(), "run_id": run_id,
        "started_at": drill.started_at.isoformat(),
        "steps": {s: times[s].isoformat() if times[s] else None for s in STEPS},
        "seconds_from_start": {s: round((times[s] - drill.started_at).total_seconds(), 1) if times[s] else None
                               for s in STEPS},
    }
    with wh.transaction() as con:  # one result per drill and run: a rerun of the run adds nothing
        ensure_audit_log(wh, con)
        append_audit_events(wh, con, [{"event_id": f"drill:{drill.drill_id}:{run_id}", "run_date": run_date,
                                       "event": RESULT_EVENT, "actor": SERVICE_ACTOR, "details": result,
                                       "run_id": run_id, "subject": drill.subject_id}])
    path = Path(settings.out) / "drills" / run_date.isoformat() / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    steps = STEPS_BY_KIND[drill.kind]
    missed = [s for s in steps if times[s] is None]
    return {"date": run_date.isoformat(), "drills": 1, "kind": drill.kind, "steps_done": len(steps) - len(missed),
            "steps_total": len(steps),
            "warnings": [f"drill {drill.drill_id}: no {', '.join(missed)} yet (docs/drills.md)"] if missed else [],
            "result": str(path)}
