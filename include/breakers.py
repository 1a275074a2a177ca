"""Circuit breakers against mass revocation: a bad HR night must never lock people out.

Checked after the night is built and audited, before anything is published or any ticket is made:

* **headcount**: active headcount fell by more than 20% against the previous night -> HOLD;
* **revocations**: planned revocations exceed max(10, 5% of yesterday's active population) -> HOLD;
* **stale snapshot**: a roster, account list or client book byte-identical to the previous night's
  delivery (a stuck extract re-sending yesterday's file) -> HOLD.

Both read the raw HR partitions directly (not the models), so a modelling bug cannot hide a
truncated roster. A held night publishes nothing and issues nothing until a person releases it
with `vigil approve`; the approval is bound to a fingerprint of exactly the planned revocations, so
approving 25 revocations never releases a different set of 2,500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field

from vigil.audit import AUDIT_LOG, AUDIT_SCHEMA, append_audit_events
from vigil.audit import ensure_audit_log as _ensure_audit_log
from vigil.warehouse import Warehouse


class BreakerHold(RuntimeError):
    """A tripped breaker: nothing is published and no ticket is made until a person approves."""

    def __init__(self, decision: "BreakerDecision"):
        self.decision = decision
        super().__init__(
            f"HOLD on {decision.run_date}: " + "; ".join(decision.reasons)
            + f". Nothing was published and no ticket was created. Check the night; to release it: "
            f"vigil approve --date {decision.run_date} --reason TEXT --by NAME, then rerun the night "
            f"(in Airflow: clear check_breakers and its downstream tasks)."
        )

HEADCOUNT_DROP_LIMIT = 0.20
REVOCATION_FLOOR = 10
REVOCATION_SHARE = 0.05

ACTIVE_STATUSES = ("active", "notice", "leave")


@dataclass
class BreakerDecision:
    run_date: str
    status: str  # "pass" | "hold" | "released"
    yesterday_date: str | None
    yesterday_active: int | None
    today_active: int
    planned_revocations: int
    revocation_threshold: float
    headcount_drop: float | None
    fingerprint: str
    reasons: list[str] = field(default_factory=list)
    approval: dict | None = None

    @property
    def holds(self) -> bool:
        return self.status == "hold"

    def to_dict(self) -> dict:
        return asdict(self)


def revocation_threshold(yesterday_active: int) -> float:
    return max(REVOCATION_FLOOR, REVOCATION_SHARE * yesterday_active)


def decide(run_date: dt.date, *, today_active: int, yesterday_active: int | None, yesterday_date: dt.date | None,
           planned: list[tuple], approval: dict | None = None, stale: list[str] = ()) -> BreakerDecision:
    """The rule itself, on plain numbers (the warehouse reading is in `evaluate`)."""
    baseline = yesterday_active if yesterday_active is not None else today_active
    threshold = revocation_threshold(baseline)
    fingerprint = hashlib.sha256(json.dumps(sorted(map(list, planned))).encode()).hexdigest()
    reasons = []
    drop = None
    if yesterday_active:
        drop = (yesterday_active - today_active) / yesterday_active
        if drop > HEADCOUNT_DROP_LIMIT:
            reasons.append(
                f"active headcount fell {drop:.1%} ({yesterday_active} on {yesterday_date} -> {today_active}); "
                f"the limit is {HEADCOUNT_DROP_LIMIT:.0%}"
            )
    if len(planned) > threshold:
        reasons.append(
            f"{len(planned)} planned revocations exceed the threshold max({REVOCATION_FLOOR}, "
            f"{REVOCATION_SHARE:.0%} of {baseline}) = {threshold:g}"
        )
    for name in stale:
        reasons.append(f"{name} is byte-identical to the previous night's delivery (a stuck extract?)")
    status = "pass"
    if reasons:
        status = "released" if approval and approval.get("fingerprint") == fingerprint else "hold"
    return BreakerDecision(
        run_date.isoformat(), status, yesterday_date.isoformat() if yesterday_date else None, yesterday_active,
        today_active, len(planned), threshold, drop, fingerprint, reasons,
        approval if status == "released" else None,
    )


def _active_count(wh: Warehouse, con, feed_date: dt.date) -> int:
    statuses = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
    return wh._fetchall(
        con, f"SELECT count(*) FROM raw.hr__employees WHERE _feed_date = %s AND status IN ({statuses})", (feed_date,)
    )[0][0]


def stale_snapshots(wh: Warehouse, con, run_date: dt.date) -> list[str]:
    """'feed/table' of tonight's snapshot deliveries that repeat the previous night's file."""
    from vigil.transforms.contract import table as contract_table

    rows = wh._fetchall(con, "SELECT feed, table_name FROM raw._vigil_loads WHERE feed_date = %s AND stale ORDER BY 1, 2",
                        (run_date,))
    return [f"{f}/{t}" for f, t in rows if contract_table(f, t).stale_is_suspicious]


def planned_revocations(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate") -> list[dict]:
    """The tickets tonight would create (vigil.tickets.plan_tickets: new tickets only; a ticket
    already issued on an earlier night is not planned again), without side effects."""
    from vigil.tickets import plan_tickets

    return plan_tickets(warehouse_url, run_date, "plan", schema=schema)


def _plan_key(tickets: list[dict]) -> list[tuple]:
    return sorted((t["kind"], t["employee_id"], t["system"], t["ticket_id"]) for t in tickets)


def evaluate(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate", *,
             tickets: list[dict] | None = None) -> BreakerDecision:
    if tickets is None:
        tickets = planned_revocations(warehouse_url, run_date, schema)
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        today = _active_count(wh, con, run_date)
        prev = wh._fetchall(
            con, "SELECT max(_feed_date) FROM raw.hr__employees WHERE _feed_date < %s", (run_date,)
        )[0][0]
        yesterday = _active_count(wh, con, prev) if prev else None
        approval = latest_approval(wh, con, run_date)
        stale = stale_snapshots(wh, con, run_date)
    return decide(run_date, today_active=today, yesterday_active=yesterday, yesterday_date=prev,
                  planned=_plan_key(tickets), approval=approval, stale=stale)


def plan(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate") -> tuple[list[dict], BreakerDecision]:
    """`vigil plan`: the tickets night D would create and the breakers' decision; writes nothing."""
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        built = wh._fetchall(con, f"SELECT max(as_of_date) FROM {schema}.pub_leaver_access_exposure") \
            if f"{schema}.pub_leaver_access_exposure" in wh.list_tables(con, (schema,)) else [(None,)]
    if built[0][0] not in (None, run_date):
        raise ValueError(f"the candidate tables were built for {built[0][0]}, not {run_date}: run the night first")
    tickets = planned_revocations(warehouse_url, run_date, schema)
    return tickets, evaluate(warehouse_url, run_date, schema, tickets=tickets)


def ensure_audit_log(wh: Warehouse, con) -> None:
    _ensure_audit_log(wh, con)


def latest_approval(wh: Warehouse, con, run_date: dt.date) -> dict | None:
    if f"{AUDIT_LOG}" not in set(wh.list_tables(con, (AUDIT_SCHEMA,))):
        return None
    rows = wh._fetchall(
        con,
        f"SELECT details FROM {AUDIT_LOG} WHERE run_date = %s AND event = 'breaker_released' "
        f"ORDER BY occurred_at DESC LIMIT 1",
        (run_date,),
    )
    return json.loads(rows[0][0]) if rows else None


def append_audit(warehouse_url: str, *, run_date: dt.date | None, event: str, actor: str, details: dict,
                 run_id: str | None = None) -> str:
    """Append one event to the audit log (append-only: nothing here updates or deletes)."""
    wh = Warehouse.open(warehouse_url)
    event_id = str(uuid.uuid4())
    with wh.transaction() as con:
        ensure_audit_log(wh, con)
        append_audit_events(wh, con, [{"event_id": event_id, "run_date": run_date, "event": event, "actor": actor,
                                       "details": details, "run_id": run_id or details.get("run_id")}])
    return event_id


def approve(warehouse_url: str, run_date: dt.date, *, reason: str, by: str) -> BreakerDecision:
    """Release a held night: records who, why, and exactly which plan they saw."""
    if not reason.strip() or not by.strip():
        raise ValueError("an approval needs a reason and the name of the person approving")
    decision = evaluate(warehouse_url, run_date)
    if decision.status != "hold":
        raise ValueError(f"{run_date} is not held (breakers: {decision.status}); nothing to approve")
    details = {
        "fingerprint": decision.fingerprint, "reason": reason, "approved_by": by,
        "planned_revocations": decision.planned_revocations, "today_active": decision.today_active,
        "yesterday_active": decision.yesterday_active, "reasons": decision.reasons,
    }
    append_audit(warehouse_url, run_date=run_date, event="breaker_released", actor=by, details=details)
    return evaluate(warehouse_url, run_date)
