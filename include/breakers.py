"""Circuit breakers against mass revocation: a bad HR night must never lock people out.

Checked after the night is built and audited, before anything is published or any ticket is made:

* **headcount**: active headcount fell by more than 20% against the previous night -> HOLD;
* **revocations**: planned revocations exceed max(10, 5% of yesterday's active population) -> HOLD.

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

from vigil.warehouse import Warehouse

HEADCOUNT_DROP_LIMIT = 0.20
REVOCATION_FLOOR = 10
REVOCATION_SHARE = 0.05

AUDIT_SCHEMA = "audit"
AUDIT_LOG = f"{AUDIT_SCHEMA}.audit_log"
AUDIT_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {AUDIT_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {AUDIT_LOG} (
        event_id VARCHAR PRIMARY KEY,
        occurred_at TIMESTAMPTZ NOT NULL,
        run_date DATE,
        event VARCHAR NOT NULL,
        actor VARCHAR NOT NULL,
        details VARCHAR NOT NULL
    )""",
)

EXPOSURE_TABLES = ("pub_leaver_access_exposure", "pub_notice_restrictions")
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
           planned: list[tuple], approval: dict | None = None) -> BreakerDecision:
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


def planned_revocations(wh: Warehouse, con, schema: str = "publish_candidate") -> list[tuple]:
    """(kind, employee_id, system, account_id) of every revocation tonight's tables would ask for."""
    present = {t.split(".", 1)[1] for t in wh.list_tables(con, (schema,))}
    rows: set[tuple] = set()
    for table in EXPOSURE_TABLES:
        if table in present:
            rows.update(
                (table, *r)
                for r in wh._fetchall(con, f"SELECT DISTINCT employee_id, system, account_id FROM {schema}.{table}")
            )
    return sorted(rows)


def evaluate(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate") -> BreakerDecision:
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        today = _active_count(wh, con, run_date)
        prev = wh._fetchall(
            con, "SELECT max(_feed_date) FROM raw.hr__employees WHERE _feed_date < %s", (run_date,)
        )[0][0]
        yesterday = _active_count(wh, con, prev) if prev else None
        planned = planned_revocations(wh, con, schema)
        approval = latest_approval(wh, con, run_date)
    return decide(run_date, today_active=today, yesterday_active=yesterday, yesterday_date=prev,
                  planned=planned, approval=approval)


def ensure_audit_log(wh: Warehouse, con) -> None:
    for sql in AUDIT_DDL:
        con.execute(sql)


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


def append_audit(warehouse_url: str, *, run_date: dt.date | None, event: str, actor: str, details: dict) -> str:
    """Append one event to the audit log (append-only: nothing here updates or deletes)."""
    wh = Warehouse.open(warehouse_url)
    event_id = str(uuid.uuid4())
    with wh.transaction() as con:
        ensure_audit_log(wh, con)
        con.execute(
            f"INSERT INTO {AUDIT_LOG} VALUES (%s, %s, %s, %s, %s, %s)",
            (event_id, dt.datetime.now(dt.timezone.utc), run_date, event, actor, json.dumps(details, sort_keys=True)),
        )
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
