"""Circuit breakers against mass revocation: a bad HR night must never lock people out.

Checked after the night is built and audited, before anything is published or any ticket is made:

* **headcount**: active headcount fell by more than 20% against the previous night;
* **revocations**: planned revocations exceed max(10, 5% of yesterday's active population);
* **stale snapshot**: a roster, account list or client book is a *stuck extract*: byte-identical to
  the previous night's delivery **and** with evidence that the extract did not run (the manifest's
  extraction time or source watermark did not advance, or more identical nights in a row than the
  table's size makes likely), or a file that says it is as of an earlier day. Identical bytes alone
  are a quiet day: a warning, never a hold (a 300-person roster is unchanged on most nights).

Each breaker holds only what its suspect feed feeds (`SCOPES`, docs/quality.md): a suspect roster
(headcount, HR stale) or a mass revocation plan holds the whole night (nothing published, no
ticket, no alert); a stuck IAM account list holds ticket closure only (a new leaver's revocation
still goes out); a stuck CRM client book holds the CRM-derived alerts only (handover, departure
risk) while the night publishes and its revocations go out.

Both read the raw partitions directly (not the models), so a modelling bug cannot hide a truncated
roster. A drill's synthetic leaver (docs/drills.md: ids ``DRILL-…``, vigil.config.is_drill_id) never
counts: not in the active headcounts, not among the planned revocations (``drill_revocations``
reports its tickets apart), so a drill can neither trip nor mask a breaker. A person releases a hold with `vigil approve`; the approval is bound to a fingerprint of
every tripped breaker's measured values (headcounts, counts, the stale files and their evidence,
the planned revocations), so approving a 31.8% drop never releases a 53.8% one, and approving 25
revocations never releases a different set of 2,500.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil.config import DRILL_PREFIX, is_drill_id
from vigil.ingest.contract import STUCK_EXTRACT_SENTINELS
from vigil.store.audit import AUDIT_LOG, AUDIT_SCHEMA, append_audit
from vigil.store.warehouse import LEDGER, Warehouse

#: Plans the tickets night D would create, on an open connection: (wh, con, run_date, schema) -> ticket
#: documents. The actions layer owns ticket planning (vigil.actions.tickets.store.plan_new_tickets);
#: the callers above (pipeline, cli) pass it in, so the gates never import the actions they hold.
Planner = Callable[[Warehouse, Any, dt.date, str], list[dict]]


class BreakerHold(RuntimeError):
    """A breaker that holds the whole night: nothing is published and no ticket is made until a person approves."""

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

# ----------------------------------------------------------------------------- what a breaker holds
#: The night's actions, in the order they run. "alert:<kind>" is one kind of nightly alert.
PUBLISH = "publish"
CLOSE_TICKETS = "close_tickets"
REVOCATION_TICKETS = "revocation_tickets"
ALERTS = "alerts"
ACTIONS = (PUBLISH, CLOSE_TICKETS, REVOCATION_TICKETS, ALERTS)
WHOLE_NIGHT = ACTIONS

#: breaker -> the actions it holds while tripped and not approved.
SCOPES: dict[str, tuple[str, ...]] = {
    # The roster is the spine of every mart: a truncated or stuck one must not reach `publish`.
    "headcount": WHOLE_NIGHT,
    "revocations": WHOLE_NIGHT,
    "stale hr/employees": WHOLE_NIGHT,
    # A stuck account list only repeats yesterday's accounts: tonight's new tickets come from HR
    # (a new termination or notice) and go out; what it cannot show is that an account was disabled.
    "stale iam/accounts": (CLOSE_TICKETS,),
    # A stuck client book feeds the client-derived alerts only, never a revocation.
    "stale crm/clients": ("alert:handover_overdue", "alert:departure_risk_high"),
}


def is_held(held, action: str) -> bool:
    """Whether `action` (an ACTIONS name or "alert:<kind>") is held by the held list of a decision."""
    held = set(held or ())
    if PUBLISH in held:
        return True
    if action.startswith("alert:") and ALERTS in held:
        return True
    return action in held


# ----------------------------------------------------------------------------- when a feed is stale
#: Calibration of "a quiet day": a ~300-row roster is byte-identical to the previous day on ~90% of
#: nights (87-95% in real data), i.e. each row changes on a given day with probability
#: 1 - 0.9^(1/300). A run of identical nights is a stuck extract once its probability at the
#: table's size falls below 1 in 1,000.
QUIET_SHARE_AT_300 = 0.90
ROW_CHANGE_RATE = 1 - QUIET_SHARE_AT_300 ** (1 / 300)
UNLIKELY = 1e-3


def identical_nights_limit(rows: int) -> int:
    """The number of identical nights in a row that a table of `rows` rows is unlikely to have by
    chance (probability < UNLIKELY): 1 from ~19,700 rows up, 7 at 3,000, 20 at 1,000, 66 at 300."""
    p_quiet = (1 - ROW_CHANGE_RATE) ** max(rows, 1)
    return max(1, math.ceil(math.log(UNLIKELY) / math.log(p_quiet)))


def _utc(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def staleness(run_date: dt.date, history: list[dict]) -> dict | None:
    """Is tonight's delivery of one sentinel table a quiet day or a stuck extract?

    `history`: the ledger rows of the table up to `run_date`, newest first (feed_date,
    source_sha256, row_count, stale, extracted_at, source_watermark, as_of). None when nothing is
    suspicious; otherwise the measured evidence, with `stuck` true when it holds."""
    if not history or history[0]["feed_date"] != run_date:
        return None
    tonight, prev = history[0], (history[1] if len(history) > 1 else None)
    evidence = []
    if tonight["as_of"] is not None and tonight["as_of"] < run_date:
        evidence.append(f"the manifest says the file is as of {tonight['as_of']}, not {run_date}")
    streak = 0
    for row in history:
        if not row["stale"]:
            break
        streak += 1
    if not tonight["stale"] and not evidence:
        return None
    limit = identical_nights_limit(int(tonight["row_count"]))
    if tonight["stale"] and prev is not None:
        now_at, prev_at = _utc(tonight["extracted_at"]), _utc(prev["extracted_at"])
        if now_at is not None and prev_at is not None and now_at <= prev_at:
            evidence.append(f"the manifest's extracted_at did not advance ({tonight['extracted_at']}, "
                            f"the night before {prev['extracted_at']})")
        if tonight["source_watermark"] is not None and tonight["source_watermark"] == prev["source_watermark"]:
            evidence.append(f"the manifest's source_watermark did not advance ({tonight['source_watermark']})")
        if streak >= limit:
            evidence.append(f"{streak} identical nights in a row, unlikely for {tonight['row_count']} rows "
                            f"(limit {limit})")
    return {
        "sha256": tonight["source_sha256"], "rows": int(tonight["row_count"]), "identical": bool(tonight["stale"]),
        "identical_nights": streak, "identical_nights_limit": limit,
        "extracted_at": tonight["extracted_at"], "source_watermark": tonight["source_watermark"],
        "as_of": tonight["as_of"].isoformat() if tonight["as_of"] else None,
        "evidence": evidence, "stuck": bool(evidence),
    }


def stale_snapshots(wh: Warehouse, con, run_date: dt.date) -> dict[str, dict]:
    """'feed/table' -> staleness() of each feed's main snapshot delivered tonight that is unchanged
    or says it is old (quiet days included, with stuck = False)."""
    if LEDGER not in set(wh.list_tables(con, ("raw",))):
        return {}
    cols = ("feed_date", "source_sha256", "row_count", "stale", "extracted_at", "source_watermark", "as_of")
    out = {}
    for feed, table in sorted(STUCK_EXTRACT_SENTINELS):
        rows = wh.fetchall(
            con, f"SELECT {', '.join(cols)} FROM {LEDGER} WHERE feed = %s AND table_name = %s AND feed_date <= %s "
                 f"ORDER BY feed_date DESC LIMIT 1000", (feed, table, run_date))
        found = staleness(run_date, [dict(zip(cols, r)) for r in rows])
        if found is not None:
            out[f"{feed}/{table}"] = found
    return out


# ----------------------------------------------------------------------------- the decision
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
    fingerprint: str  # of every tripped breaker's measured values: what an approval is bound to
    reasons: list[str] = field(default_factory=list)
    approval: dict | None = None
    plan_fingerprint: str = ""  # of exactly the planned revocations
    trips: list[dict] = field(default_factory=list)  # {breaker, reason, holds, measured}
    held: list[str] = field(default_factory=list)  # actions held tonight (empty unless status == "hold")
    goes_out: list[str] = field(default_factory=list)  # actions that run tonight
    warnings: list[str] = field(default_factory=list)  # quiet days: unchanged, but no evidence of a stuck extract
    drill_revocations: int = 0  # the drill's planned tickets (docs/drills.md): reported, never counted

    @property
    def holds(self) -> bool:
        return self.status == "hold"

    @property
    def holds_night(self) -> bool:
        """Held as a whole: nothing is published, no ticket is made."""
        return self.holds and PUBLISH in self.held

    def to_dict(self) -> dict:
        return asdict(self)


def revocation_threshold(yesterday_active: int) -> float:
    return max(REVOCATION_FLOOR, REVOCATION_SHARE * yesterday_active)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _stale_reason(name: str, s: dict) -> str:
    what = "byte-identical to the previous night's delivery" if s.get("identical") else "old"
    return f"{name} is a stuck extract ({what}; " + "; ".join(s["evidence"]) + ")"


def decide(run_date: dt.date, *, today_active: int, yesterday_active: int | None, yesterday_date: dt.date | None,
           planned: list[tuple], approval: dict | None = None, stale=()) -> BreakerDecision:
    """The rule itself, on plain numbers (the warehouse reading is in `evaluate`).

    `stale`: 'feed/table' -> staleness() (a plain list of names means stuck, no further evidence).
    `planned`: (kind, employee_id, system, ticket_id) of each planned ticket; a drill's (its employee_id
    a ``DRILL-`` id) is left out of the count and of the approved plan's fingerprint."""
    drill = [p for p in planned if is_drill_id(p[1])]
    planned = [p for p in planned if not is_drill_id(p[1])]
    baseline = yesterday_active if yesterday_active is not None else today_active
    threshold = revocation_threshold(baseline)
    plan_fp = _digest(sorted(map(list, planned)))
    if not isinstance(stale, dict):
        stale = {name: {"evidence": ["reported stale"], "stuck": True, "identical": True} for name in stale}
    trips: list[dict] = []

    def trip(breaker: str, reason: str, measured: dict) -> None:
        holds = SCOPES[breaker]
        if PUBLISH in holds:  # what it releases is the planned revocations: bind them too
            measured = measured | {"planned_revocations": len(planned), "plan_fingerprint": plan_fp}
        trips.append({"breaker": breaker, "reason": reason, "holds": list(holds), "measured": measured})

    drop = None
    if yesterday_active:
        drop = (yesterday_active - today_active) / yesterday_active
        if drop > HEADCOUNT_DROP_LIMIT:
            trip("headcount",
                 f"active headcount fell {drop:.1%} ({yesterday_active} on {yesterday_date} -> {today_active}); "
                 f"the limit is {HEADCOUNT_DROP_LIMIT:.0%}",
                 {"yesterday_date": yesterday_date.isoformat() if yesterday_date else None,
                  "yesterday_active": yesterday_active, "today_active": today_active})
    if len(planned) > threshold:
        trip("revocations",
             f"{len(planned)} planned revocations exceed the threshold max({REVOCATION_FLOOR}, "
             f"{REVOCATION_SHARE:.0%} of {baseline}) = {threshold:g}",
             {"threshold": threshold})
    warnings = []
    for name, s in sorted(stale.items()):
        if s.get("stuck"):
            trip(f"stale {name}", _stale_reason(name, s),
                 {"table": name} | {k: s.get(k) for k in ("sha256", "rows", "identical_nights", "extracted_at",
                                                           "source_watermark", "as_of", "evidence")})
        else:
            warnings.append(
                f"{name} is byte-identical to the previous night's delivery ({s.get('identical_nights')} identical "
                f"night(s) in a row, {s.get('rows')} rows; a stuck extract after {s.get('identical_nights_limit')}): "
                f"a quiet day, the manifest shows no stuck extract")
    fingerprint = _digest([[t["breaker"], t["measured"]] for t in trips]) if trips else plan_fp
    status = "pass"
    if trips:
        status = "released" if approval and approval.get("fingerprint") == fingerprint else "hold"
    held = sorted({a for t in trips for a in t["holds"]}, key=_action_order) if status == "hold" else []
    if PUBLISH in held:
        held = list(WHOLE_NIGHT)
    goes_out = [a for a in ACTIONS if not is_held(held, a)]
    return BreakerDecision(
        run_date.isoformat(), status, yesterday_date.isoformat() if yesterday_date else None, yesterday_active,
        today_active, len(planned), threshold, drop, fingerprint, [t["reason"] for t in trips],
        approval if status == "released" else None, plan_fp, trips, held, goes_out, warnings, len(drill),
    )


def _action_order(action: str) -> tuple:
    return (ACTIONS.index(action) if action in ACTIONS else len(ACTIONS), action)


def _active_count(wh: Warehouse, con, feed_date: dt.date) -> int:
    """The night's active headcount in the raw roster; a drill's synthetic employee never counts."""
    statuses = ", ".join(f"'{s}'" for s in ACTIVE_STATUSES)
    return wh.fetchall(
        con, f"SELECT count(*) FROM raw.hr__employees WHERE _feed_date = %s AND status IN ({statuses}) "
             f"AND employee_id NOT LIKE %s", (feed_date, DRILL_PREFIX + "%")
    )[0][0]


def _plan_key(tickets: list[dict]) -> list[tuple]:
    return sorted((t["kind"], t["employee_id"], t["system"], t["ticket_id"]) for t in tickets)


def measure(wh: Warehouse, con, run_date: dt.date, *, tickets: list[dict]) -> BreakerDecision:
    """The breakers' decision for night D, read on the caller's connection: the raw rosters, the load
    ledger's staleness evidence, the latest approval, and `tickets` (the planned revocations)."""
    today = _active_count(wh, con, run_date)
    prev = wh.scalar(con, "SELECT max(_feed_date) FROM raw.hr__employees WHERE _feed_date < %s", (run_date,))
    yesterday = _active_count(wh, con, prev) if prev else None
    return decide(run_date, today_active=today, yesterday_active=yesterday, yesterday_date=prev,
                  planned=_plan_key(tickets), approval=latest_approval(wh, con, run_date),
                  stale=stale_snapshots(wh, con, run_date))


def evaluate(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate", *,
             tickets: list[dict] | None = None, planner: Planner | None = None) -> BreakerDecision:
    """measure() on a connection of its own; the planned tickets are `tickets`, or what `planner` plans."""
    if tickets is None and planner is None:
        raise TypeError("evaluate needs the planned tickets (tickets=) or a planner (planner=)")
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        if tickets is None:
            tickets = planner(wh, con, run_date, schema)
        return measure(wh, con, run_date, tickets=tickets)


def plan(warehouse_url: str, run_date: dt.date, schema: str = "publish_candidate", *,
         planner: Planner) -> tuple[list[dict], BreakerDecision]:
    """`vigil plan`: the tickets night D would create and the breakers' decision; writes nothing."""
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        exposure = f"{schema}.pub_leaver_access_exposure"
        built = wh.scalar(con, f"SELECT max(as_of_date) FROM {exposure}") \
            if exposure in wh.list_tables(con, (schema,)) else None
        if built not in (None, run_date):
            raise ValueError(f"the candidate tables were built for {built}, not {run_date}: run the night first")
        tickets = planner(wh, con, run_date, schema)
        return tickets, measure(wh, con, run_date, tickets=tickets)


def latest_approval(wh: Warehouse, con, run_date: dt.date) -> dict | None:
    if f"{AUDIT_LOG}" not in set(wh.list_tables(con, (AUDIT_SCHEMA,))):
        return None
    rows = wh.fetchall(
        con,
        f"SELECT details FROM {AUDIT_LOG} WHERE run_date = %s AND event = 'breaker_released' "
        f"ORDER BY occurred_at DESC LIMIT 1",
        (run_date,),
    )
    return json.loads(rows[0][0]) if rows else None


def approve(warehouse_url: str, run_date: dt.date, *, reason: str, by: str, planner: Planner) -> BreakerDecision:
    """Release a held night: records who, why, and exactly what they saw (every tripped breaker's
    measured values; the approval releases that and nothing worse or different)."""
    if not reason.strip() or not by.strip():
        raise ValueError("an approval needs a reason and the name of the person approving")
    decision = evaluate(warehouse_url, run_date, planner=planner)
    if decision.status != "hold":
        raise ValueError(f"{run_date} is not held (breakers: {decision.status}); nothing to approve")
    details = {
        "fingerprint": decision.fingerprint, "reason": reason, "approved_by": by,
        "planned_revocations": decision.planned_revocations, "today_active": decision.today_active,
        "yesterday_active": decision.yesterday_active, "reasons": decision.reasons,
        # what was approved, exactly: a night whose measured values differ holds again
        "trips": [{"breaker": t["breaker"], "measured": t["measured"]} for t in decision.trips],
        "released": decision.held,
    }
    append_audit(Warehouse.open(warehouse_url), run_date=run_date, event="breaker_released", actor=by, details=details)
    return evaluate(warehouse_url, run_date, planner=planner)
