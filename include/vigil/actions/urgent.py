"""The narrow path (issue 24): an HR event freezes access the same day, with the night's safeguards.

For each valid event (vigil.ingest.events), in order:

1. **Evidence**: the employee's enabled accounts and entitlements are read from the raw snapshot of
   the last *published* night (the newest night whose gates and breakers passed: audit event
   ``published``), never from a night that was loaded but not published.
2. **Agreement**: the event must agree with that night's HR snapshot (a termination, or notice,
   on the event's day) or be newer than it (effective after the end of the snapshot's day);
   otherwise it is held.
3. **Plan**: dismissal, termination, rehire_cancel: every enabled account is disabled and its
   entitlements removed (rule AL-01); resignation, notice_given: every privileged entitlement is
   frozen (rule AL-02); leave_start: no rule acts on it (recorded). The tickets are built by the
   nightly ticket model with the same facts, so they carry the **same deterministic ids** the
   nightly rule gives and the next night creates no second ticket.
4. **Breakers**: more than `max_events_per_hour` urgent events in an hour, or one event covering
   more than `max_accounts` accounts, holds (one ``urgent_hold`` alert per hour, or per event);
   `approve_events` releases exactly the plan a person saw (bound to its fingerprint).
5. **Act**: tickets and outbox rows go into the ticket store (`issue_tickets`), the outbox is
   delivered at once (`deliver_tickets`: SCIM ``active=false``, webhook, file drop), and the audit
   log records the event, the plan and the outcome; the next night's `close_tickets` records the
   verification from the IAM snapshot.

Every night, `reconcile` acts on event files never acted on (and reports them) and raises a
critical ``urgent_contradicted`` alert when a later HR snapshot contradicts an event already
acted on. A freeze is never undone by Vigil. See docs/events.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from vigil.actions.alerts import Alert, dispatch_alerts
from vigil.actions.alerts.model import URGENT_CONTRADICTED, URGENT_HOLD
from vigil.actions.tickets import deliver_tickets, issue_tickets
from vigil.actions.tickets.model import Candidate, build_candidates, dbt_vars, hr_event_window_days, ticket_grace_days
from vigil.build.dbt_runner import DBT_PROJECT_DIR
from vigil.config import Settings
from vigil.ingest import events as ev
from vigil.store.audit import AUDIT_LOG, append_audit_events, ensure_audit_log
from vigil.store.ddl import needs_ddl
from vigil.store.warehouse import Warehouse, kept_open

log = logging.getLogger(__name__)

ACTOR = "vigil-urgent"
SCHEMA = "urgent"
EVENTS = f"{SCHEMA}.events"
EVENT_COLUMNS = (
    "event_id", "kind", "employee_id", "effective_at", "reported_at", "source", "source_file", "source_line",
    "event_sha256", "received_at", "received_via", "status", "status_at", "reason", "snapshot_date",
    "plan_fingerprint", "ticket_ids", "acted_at", "contradicted_on",
)
DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {EVENTS} (
    event_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    employee_id VARCHAR NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    reported_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL,
    source_file VARCHAR NOT NULL,
    source_line INTEGER NOT NULL,
    event_sha256 VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    received_via VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    status_at TIMESTAMPTZ NOT NULL,
    reason VARCHAR,
    snapshot_date DATE,
    plan_fingerprint VARCHAR,
    ticket_ids VARCHAR,
    acted_at TIMESTAMPTZ,
    contradicted_on DATE
)""",
)
#: acted: tickets issued (and delivered as far as the channels allowed); no_action: nothing to
#: freeze. Both are final; held and waiting events are looked at again by every sweep and night.
FINAL = ("acted", "no_action")
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Policy:
    """The urgent path's breakers: VIGIL_URGENT_MAX_EVENTS_PER_HOUR, VIGIL_URGENT_MAX_ACCOUNTS."""

    max_events_per_hour: int = 10
    max_accounts: int = 25

    @classmethod
    def from_env(cls, env: dict | None = None) -> Policy:
        env = os.environ if env is None else env
        values = {}
        for field_, var in (("max_events_per_hour", "VIGIL_URGENT_MAX_EVENTS_PER_HOUR"),
                            ("max_accounts", "VIGIL_URGENT_MAX_ACCOUNTS")):
            if env.get(var):
                try:
                    values[field_] = int(env[var])
                except ValueError:
                    raise ValueError(f"{var} must be a whole number, not {env[var]!r}") from None
                if values[field_] < 0:
                    raise ValueError(f"{var} must be >= 0, not {values[field_]}")
        return cls(**values)


# --------------------------------------------------------------------------- warehouse helpers


def ensure_urgent_tables(wh: Warehouse, con) -> None:
    if needs_ddl(con, EVENTS):
        for sql in DDL:
            con.execute(sql)


def _has(wh: Warehouse, con, schema: str, table: str) -> bool:
    return f"{schema}.{table}" in set(wh.list_tables(con, (schema,)))


def last_published(wh: Warehouse, con) -> dt.date | None:
    """The newest night that was published (its raw snapshot passed the gates and breakers)."""
    if not _has(wh, con, "audit", "audit_log"):
        return None
    return wh.fetchall(con, f"SELECT max(run_date) FROM {AUDIT_LOG} WHERE event = 'published'")[0][0]


def _utc(value) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)


# --------------------------------------------------------------------------- policy (dbt vars, seed)


def _policy_vars() -> dict:
    data = dbt_vars()  # parsed once with the C loader (the CLI's path)
    return {k: data[k] for k in ("policy_version", "revocation_due_days_privileged", "revocation_due_days_standard",
                                 "notice_privilege_due_days")}


def _criticality() -> dict[str, tuple[str, int | None]]:
    with open(Path(DBT_PROJECT_DIR) / "seeds" / "access" / "system_criticality.csv", newline="") as fh:
        return {r["system"]: (r["criticality"] or "standard",
                              int(r["revocation_due_days"]) if r["revocation_due_days"] else None)
                for r in csv.DictReader(fh)}


# --------------------------------------------------------------------------- agreement and plan


def _within(hr_day: dt.date | None, day: dt.date, window_days: int) -> bool:
    return hr_day is not None and abs((hr_day - day).days) <= window_days


def agreement(event: ev.HrEvent, hr: dict | None, snapshot_date: dt.date, window_days: int = 0) -> tuple[bool, str]:
    """Does the last published HR snapshot agree with the event, or is the event newer than it?

    HR's termination (notice) day may differ from the event's by up to `window_days`
    (``hr_event_window_days``): the same departure, recorded on another day."""
    if event.effective_at > _end_of(snapshot_date):
        return True, f"newer than the HR snapshot of {snapshot_date}"
    if hr is None:
        return False, f"employee not in the HR snapshot of {snapshot_date}"
    day = event.effective_date
    if event.kind in ev.LEAVER_KINDS:
        if _within(hr["termination_date"], day, window_days):
            return True, (f"the HR snapshot of {snapshot_date} shows the termination on {hr['termination_date']}"
                          + ("" if hr["termination_date"] == day else f" (the event's day: {day})"))
        return False, (f"the HR snapshot of {snapshot_date} shows status {hr['status']}, termination "
                       f"{hr['termination_date'] or 'none'}, not a termination on {day}")
    if event.kind in ev.NOTICE_KINDS:
        if _within(hr["notice_date"], day, window_days):
            return True, (f"the HR snapshot of {snapshot_date} shows notice given on {hr['notice_date']}"
                          + ("" if hr["notice_date"] == day else f" (the event's day: {day})"))
        return False, (f"the HR snapshot of {snapshot_date} shows status {hr['status']}, notice "
                       f"{hr['notice_date'] or 'none'}, not notice given on {day}")
    if hr["status"] == "leave":
        return True, f"the HR snapshot of {snapshot_date} shows the leave"
    return False, f"the HR snapshot of {snapshot_date} shows status {hr['status']}, not leave"


def _evidence(wh: Warehouse, con, snapshot_date: dt.date) -> dict[str, str]:
    """sha256 of the HR and IAM files of the published snapshot (as the night's tickets carry)."""
    if not _has(wh, con, "raw", "_vigil_loads"):
        return {}
    rows = wh.rows(con,
                 "SELECT source_file, source_sha256 FROM raw._vigil_loads WHERE feed IN ('hr', 'iam') "
                 "AND feed_date = %s ORDER BY source_file", (snapshot_date,))
    return {r["source_file"]: r["source_sha256"] for r in rows}


def plan_event(wh: Warehouse, con, event: ev.HrEvent, snapshot_date: dt.date, *, run_id: str,
               today: dt.date, evidence: dict[str, str], policy_vars: dict, criticality: dict,
               grace_days: int) -> list[Candidate]:
    """The tickets the event asks for, from the published IAM snapshot, built by the nightly model."""
    if event.kind in ev.LEAVE_KINDS:
        return []
    accounts = wh.rows(con,
                     "SELECT system, account_id, is_privileged FROM raw.iam__accounts WHERE _feed_date = %s "
                     "AND employee_id = %s AND status = 'enabled' ORDER BY system, account_id",
                     (snapshot_date, event.employee_id))
    if not accounts:
        return []
    ents = wh.rows(con,
                 "SELECT e.system, e.account_id, e.entitlement, e.is_privileged FROM raw.iam__entitlements e "
                 "JOIN raw.iam__accounts a ON a.system = e.system AND a.account_id = e.account_id "
                 "AND a._feed_date = e._feed_date WHERE e._feed_date = %s AND a.employee_id = %s "
                 "AND a.status = 'enabled' ORDER BY e.system, e.account_id, e.entitlement",
                 (snapshot_date, event.employee_id))
    day = event.effective_date
    version = str(policy_vars["policy_version"])
    hashes = dict(evidence)
    hashes[f"hr_events/{Path(event.file).name}#{event.line}"] = event.sha256
    exposure, notice = [], []
    if event.kind in ev.LEAVER_KINDS:
        privileged_accounts = {(e["system"], e["account_id"]) for e in ents if e["is_privileged"]}
        for a in accounts:
            crit, sys_days = criticality.get(a["system"], ("standard", None))
            privileged = bool(a["is_privileged"]) or (a["system"], a["account_id"]) in privileged_accounts
            # as int_access__leaver_accounts: privileged by the privileged default (or sooner)
            due_priv = int(policy_vars["revocation_due_days_privileged"])
            days = min(due_priv, sys_days if sys_days is not None else due_priv) if privileged else \
                (sys_days if sys_days is not None else int(policy_vars["revocation_due_days_standard"]))
            due_date = day + dt.timedelta(days=days)
            overdue = today > due_date
            priority = "P1" if privileged or (overdue and crit == "critical") else "P2" if overdue else "P3"
            exposure.append({"employee_id": event.employee_id, "system": a["system"], "account_id": a["account_id"],
                             "termination_date": day, "due_at": _end_of(due_date), "priority": priority,
                             "rule_id": "AL-01", "policy_version": version, "criticality": crit,
                             "ticket_key": f"AL-01:{a['system']}:{a['account_id']}"})
    else:
        due_date = day + dt.timedelta(days=int(policy_vars["notice_privilege_due_days"]))
        for e in ents:
            if not e["is_privileged"]:
                continue
            notice.append({"employee_id": event.employee_id, "system": e["system"], "account_id": e["account_id"],
                           "entitlement": e["entitlement"], "notice_date": day, "due_at": _end_of(due_date),
                           "priority": "P1" if today > due_date else "P2", "rule_id": "AL-02",
                           "policy_version": version,
                           "ticket_key": f"AL-02:{e['system']}:{e['account_id']}:{e['entitlement']}"})
        ents = []
    return build_candidates(exposure, ents, notice, run_date=day, run_id=run_id, input_hashes=hashes,
                            grace_days=grace_days)


def fingerprint(event: ev.HrEvent, cands: list[Candidate]) -> str:
    """What an approval is bound to: the event and exactly the tickets and actions it would issue."""
    plan = [event.event_id, event.sha256, sorted([c.ticket_id, c.document["actions"]] for c in cands)]
    return hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()


def _approval_id(event_id: str, fp: str) -> str:
    return f"urgent:{event_id}:released:{fp[:16]}"


def _accounts(cands: list[Candidate]) -> int:
    return len({(c.document["system"], a) for c in cands for a in c.document["account_ids"]})


# --------------------------------------------------------------------------- reacting


@dataclass
class _Item:
    event: ev.HrEvent
    status: str = "received"
    reason: str = ""
    cands: list | None = None
    fp: str | None = None
    approved: bool = False


def _audit(event: ev.HrEvent, name: str, *, details: dict, run_id: str, now: dt.datetime, suffix: str = "",
           outcome: str | None = None, input_hashes: dict | None = None) -> dict:
    return {"event_id": f"urgent:{event.event_id}:{name}{suffix}", "event": f"urgent_{name}", "actor": ACTOR,
            "occurred_at": now, "run_date": event.effective_date, "run_id": run_id, "subject": event.employee_id,
            "details": dict(details, event_id=event.event_id, kind=event.kind), "outcome": outcome,
            "input_hashes": input_hashes}


def react(settings: Settings, events: list[ev.HrEvent], *, via: str, now: dt.datetime | None = None,
          policy: Policy | None = None, approved_by: str | None = None, approval_reason: str | None = None) -> dict:
    """Act on HR events (already validated and in the landing folder): plan, breakers, tickets, delivery.

    `via`: cli, airflow, nightly (recorded). With `approved_by` and `approval_reason`, the plans
    computed now are approved (audit event ``urgent_released``, bound to each plan's fingerprint)
    and go out whatever the breakers say. Returns counts and the events by outcome.

    A DuckDB warehouse is opened once for all of it (`kept_open`): the steps' own transactions
    stay as they are, without opening and checkpointing the file for each."""
    with kept_open(settings.warehouse_for("transformer")):
        return _react(settings, events, via=via, now=now, policy=policy, approved_by=approved_by,
                      approval_reason=approval_reason)


def _react(settings: Settings, events: list[ev.HrEvent], *, via: str, now: dt.datetime | None,
           policy: Policy | None, approved_by: str | None, approval_reason: str | None) -> dict:
    now = now or dt.datetime.now(dt.timezone.utc)
    started = time.perf_counter()
    policy = policy or Policy.from_env()
    run_id = f"urgent__{now:%Y%m%dT%H%M%S.%fZ}"
    url = settings.warehouse_for("transformer")
    wh = Warehouse.open(url)
    result = {"events": len(events), "acted": [], "no_action": [], "held": [], "waiting": [], "already": [],
              "dead_lettered": [], "tickets_created": [], "tickets_existing": [], "warnings": [], "run_id": run_id}
    items: list[_Item] = []
    audit: list[dict] = []
    with wh.transaction() as con:
        ensure_urgent_tables(wh, con)
        ensure_audit_log(wh, con)
        ids = sorted({e.event_id for e in events})
        known = {r["event_id"]: r for r in wh.rows(
            con, f"SELECT event_id, event_sha256, status, source_file FROM {EVENTS} WHERE event_id IN "
                     f"({', '.join(['%s'] * len(ids))})", tuple(ids))} if ids else {}
        seen: dict[str, ev.HrEvent] = {}
        bad: list[ev.EventError] = []
        for e in events:
            prior = known.get(e.event_id)
            first = seen.setdefault(e.event_id, e)
            if (prior and prior["event_sha256"] != e.sha256) or first.sha256 != e.sha256:
                # with its text, so a JSONL file's other lines stay where they are (only this one is copied)
                bad.append(ev.EventError(e.file, e.line, 1, f"event_id {e.event_id} was already received with "
                                                             f"other facts: refused", json.dumps(e.to_dict())))
                continue
            if first is not e or (prior and prior["status"] in FINAL):
                result["already"].append(e.event_id)
                continue
            items.append(_Item(e))
            if not prior:
                con.execute(
                    f"INSERT INTO {EVENTS} ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})",
                    (e.event_id, e.kind, e.employee_id, e.effective_at, e.reported_at, e.source, e.file, e.line,
                     e.sha256, now, via, "received", now, None, None, None, None, None, None))
                audit.append(_audit(e, "received", details={"via": via, "file": Path(e.file).name, "line": e.line,
                                                            "reported_at": ev.iso(e.reported_at),
                                                            "effective_at": ev.iso(e.effective_at)},
                                    run_id=run_id, now=now))
        result["dead_lettered"] = ev.dead_letter(settings.landing, bad, now=now) if bad else []
        result["errors"] = [str(b) for b in bad]

        snapshot = last_published(wh, con)
        if items and snapshot is None:
            for it in items:
                it.status, it.reason = "held", "no published night yet: no audited IAM snapshot to act on"
        elif items:
            hr = {r["employee_id"]: r for r in wh.rows(
                con, f"SELECT employee_id, status, notice_date, termination_date FROM raw.hr__employees "
                         f"WHERE _feed_date = %s AND employee_id IN ({', '.join(['%s'] * len(items))})",
                (snapshot, *[it.event.employee_id for it in items]))}
            evidence = _evidence(wh, con, snapshot)
            pvars, crit, grace = _policy_vars(), _criticality(), ticket_grace_days()
            window = hr_event_window_days()
            for it in items:
                e = it.event
                if e.effective_at > now:
                    it.status, it.reason = "waiting", f"effective {ev.iso(e.effective_at)}, later than now"
                    continue
                agrees, basis = agreement(e, hr.get(e.employee_id), snapshot, window)
                it.cands = plan_event(wh, con, e, snapshot, run_id=f"urgent__{e.event_id}", today=now.date(),
                                      evidence=evidence, policy_vars=pvars, criticality=crit, grace_days=grace)
                it.fp = fingerprint(e, it.cands)
                if approved_by:
                    audit.append({"event_id": _approval_id(e.event_id, it.fp), "event": "urgent_released",
                                  "actor": approved_by, "occurred_at": now, "run_date": e.effective_date,
                                  "run_id": run_id, "subject": e.employee_id,
                                  "details": {"event_id": e.event_id, "plan_fingerprint": it.fp,
                                              "reason": approval_reason, "approved_by": approved_by,
                                              "tickets": sorted(c.ticket_id for c in it.cands)}})
                    it.approved = True
                else:
                    it.approved = bool(wh.fetchall(con, f"SELECT count(*) FROM {AUDIT_LOG} WHERE event_id = %s",
                                                    (_approval_id(e.event_id, it.fp),))[0][0])
                audit.append(_audit(e, "planned", suffix=f":{it.fp[:16]}", run_id=run_id, now=now,
                                    details={"snapshot_date": snapshot.isoformat(), "agreement": basis,
                                             "plan_fingerprint": it.fp, "accounts": _accounts(it.cands),
                                             "tickets": [{"ticket_id": c.ticket_id, "kind": c.document["kind"],
                                                          "system": c.document["system"],
                                                          "actions": len(c.actions)} for c in it.cands]},
                                    input_hashes=evidence))
                if not it.cands:
                    it.status = "no_action"
                    it.reason = ("no rule freezes access at leave start" if e.kind in ev.LEAVE_KINDS
                                 else f"no enabled account in the IAM snapshot of {snapshot}")
                elif not agrees and not it.approved:
                    it.status, it.reason = "held", f"HR disagrees: {basis}"
                elif _accounts(it.cands) > policy.max_accounts and not it.approved:
                    it.status = "held"
                    it.reason = (f"one event covers {_accounts(it.cands)} accounts, more than the limit of "
                                 f"{policy.max_accounts} (VIGIL_URGENT_MAX_ACCOUNTS)")
                else:
                    it.status = "go"
            # the event-rate breaker: the events acted on in the last hour plus this batch's
            recent = wh.fetchall(con, f"SELECT count(*) FROM {EVENTS} WHERE status = 'acted' AND acted_at > %s",
                                  (now - HOUR,))[0][0]
            batch = [it for it in items if it.status == "go" and not it.approved]
            if recent + len(batch) > policy.max_events_per_hour:
                for it in batch:
                    it.status = "held"
                    it.reason = (f"{recent + len(batch)} urgent events within an hour ({recent} acted on, "
                                 f"{len(batch)} now), more than the limit of {policy.max_events_per_hour} "
                                 f"(VIGIL_URGENT_MAX_EVENTS_PER_HOUR)")
        for it in items:
            if it.status in ("held", "waiting", "no_action"):
                con.execute(f"UPDATE {EVENTS} SET status = %s, status_at = %s, reason = %s, snapshot_date = %s, "
                            f"plan_fingerprint = %s WHERE event_id = %s",
                            (it.status, now, it.reason, snapshot, it.fp, it.event.event_id))
            if it.status == "held":
                audit.append(_audit(it.event, "held", suffix=f":{(it.fp or '')[:16]}", run_id=run_id, now=now,
                                    details={"reason": it.reason, "plan_fingerprint": it.fp}))
        append_audit_events(wh, con, audit)

    go = [it for it in items if it.status == "go"]
    tickets_by_event: dict[str, list[str]] = {}
    unrouted = False
    for it in go:
        issued = issue_tickets(url, it.cands, run_date=it.event.effective_date, run_id=f"urgent__{it.event.event_id}",
                               out=Path(settings.out), config_path=settings.delivery_config, now=now, actor=ACTOR)
        tickets_by_event[it.event.event_id] = issued["created"] + issued["existing"]
        result["tickets_created"] += issued["created"]
        result["tickets_existing"] += issued["existing"]
        unrouted = unrouted or bool(issued["unrouted"])
        if issued["refused"]:
            result["warnings"].append(f"event {it.event.event_id}: {len(issued['refused'])} ticket change(s) refused "
                                      f"(an issued ticket would change; the nightly alert names them)")
    delivered = None
    if go and settings.delivery_config:
        delivered = deliver_tickets(settings.warehouse_for("dispatcher"), settings.delivery_config,
                                    out=Path(settings.out), run_id=run_id)
        result["delivered"] = {k: v for k, v in delivered.items() if not isinstance(v, (list, dict))}
        result["dead_lettered_tickets"] = list(delivered.get("dead_lettered") or [])
    elif go and unrouted:
        result["warnings"].append("tickets created but not delivered: no delivery configuration "
                                  "(--delivery-config or VIGIL_DELIVERY_CONFIG)")
    done = now + dt.timedelta(seconds=time.perf_counter() - started)  # the injected clock, moved on
    with wh.transaction() as con:
        events_out = []
        for it in go:
            tickets = sorted(tickets_by_event[it.event.event_id])
            con.execute(f"UPDATE {EVENTS} SET status = %s, status_at = %s, reason = %s, snapshot_date = %s, "
                        f"plan_fingerprint = %s, ticket_ids = %s, acted_at = %s WHERE event_id = %s",
                        ("acted", done, "released by approval" if it.approved else None, snapshot, it.fp,
                         json.dumps(tickets), done, it.event.event_id))
            events_out.append(_audit(it.event, "acted", run_id=run_id, now=done, outcome="acted",
                                     details={"plan_fingerprint": it.fp, "tickets": tickets, "approved": it.approved,
                                              "seconds_since_reported": round((done - it.event.reported_at)
                                                                              .total_seconds(), 3),
                                              "delivery": result.get("delivered")}))
        append_audit_events(wh, con, events_out)
    for it in items:
        key = {"go": "acted"}.get(it.status, it.status)
        if key in result:
            result[key].append({"event_id": it.event.event_id, "kind": it.event.kind,
                                "employee_id": it.event.employee_id, "reason": it.reason,
                                "tickets": tickets_by_event.get(it.event.event_id, []), "plan_fingerprint": it.fp})
    held = [it for it in items if it.status == "held"]
    if held:
        result["alerts"] = dispatch_alerts(settings.warehouse_for("dispatcher"), _hold_alerts(held, now, run_id),
                                           run_date=now.date(), run_id=run_id, out=Path(settings.out),
                                           config_path=settings.alerting_config)
    log.info("urgent: %d event(s): %d acted, %d held, %d no action, %d waiting, %d already, %d dead-lettered",
             len(events), len(result["acted"]), len(result["held"]), len(result["no_action"]),
             len(result["waiting"]), len(result["already"]), len(bad))
    return result


def _hold_alerts(held: list[_Item], now: dt.datetime, run_id: str) -> list[Alert]:
    """One alert per hour for the rate breaker (a burst is one alert), one per event otherwise."""
    out = []
    rate = [it for it in held if "within an hour" in it.reason]
    if rate:
        out.append(Alert.build(
            kind=URGENT_HOLD, severity="critical", subject_type="night", subject_id=now.date().isoformat(),
            facts={"breaker": "event_rate", "n_held": len(rate), "event_ids": [it.event.event_id for it in rate][:500],
                   "reason": rate[0].reason[:300]},
            identity={"breaker": "event_rate", "hour": now.strftime("%Y-%m-%dT%H")}, run_id=run_id, run_date=now.date(),
            title=f"{len(rate)} HR event(s) HELD by the event-rate breaker: no access frozen until a person approves "
                  f"(vigil react FILE --approve --by NAME --reason TEXT)"))
    for it in held:
        if it in rate:
            continue
        out.append(Alert.build(
            kind=URGENT_HOLD, severity="critical", subject_type="employee", subject_id=it.event.employee_id,
            facts={"breaker": "agreement" if it.reason.startswith("HR disagrees") else "size",
                   "event_id": it.event.event_id, "kind": it.event.kind, "reason": it.reason[:300],
                   "plan_fingerprint": it.fp},
            identity={"event_id": it.event.event_id, "plan_fingerprint": it.fp}, run_id=run_id, run_date=now.date(),
            title=f"HR event {it.event.event_id} ({it.event.kind}, employee {it.event.employee_id}) HELD: "
                  f"{it.reason[:160]}"))
    return out


# --------------------------------------------------------------------------- files, folder, messages


def react_files(settings: Settings, files: list[Path], *, via: str, now: dt.datetime | None = None,
                policy: Policy | None = None, **approval) -> dict:
    """Read event files (bad events: dead letter with the reason), then `react` to the good ones."""
    good, bad = [], []
    for f in files:
        events, errors = ev.read_event_file(f)
        good += events
        bad += errors
    dead = ev.dead_letter(settings.landing, bad, now=now) if bad else []
    result = react(settings, good, via=via, now=now, policy=policy, **approval)
    result["dead_lettered"] = sorted(set(result["dead_lettered"]) | set(dead))
    result["errors"] = [str(b) for b in bad] + result.get("errors", [])
    return result


def react_pending(settings: Settings, *, messages=(), via: str = "airflow", now: dt.datetime | None = None,
                  policy: Policy | None = None) -> dict:
    """Every event file in <landing>/hr_events/ not yet acted on (the folder is the record of truth).

    `messages`: event JSON texts that came on the channel; each is first written to the landing
    folder (a producer that skipped the file loses nothing), a bad one dead-lettered there."""
    for text in messages:
        try:
            data = json.loads(text) if isinstance(text, str) else text
            if not isinstance(data, dict):
                raise ValueError("not an object")
            ev.land_event(settings.landing, data, ring=False)
        except (ValueError, ev.EventError) as exc:
            log.warning("urgent: a channel message that is not an event was ignored: %s", str(exc)[:200])
    return react_files(settings, ev.event_files(settings.landing), via=via, now=now, policy=policy)


def events_status(settings: Settings) -> list[dict]:
    """Every event received, newest first (vigil react --status)."""
    wh = Warehouse.open(settings.warehouse_for("transformer"))
    with wh.connection() as con:
        if not _has(wh, con, SCHEMA, "events"):
            return []
        return wh.rows(con, f"SELECT event_id, kind, employee_id, effective_at, reported_at, status, reason, "
                              f"ticket_ids, acted_at FROM {EVENTS} ORDER BY received_at DESC, event_id")


# --------------------------------------------------------------------------- the night


def reconcile(settings: Settings, run_date: dt.date, run_id: str, *, now: dt.datetime | None = None) -> dict:
    """Night D, after publish: act on event files never acted on (reported), then check every event
    acted on against the HR snapshot of D: one that contradicts it raises a critical alert (the
    freeze stays). Never fails the night for a bad event file (it is dead-lettered)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    pending = react_pending(settings, via="nightly", now=now)
    warnings = []
    if pending["acted"]:
        warnings.append(f"{len(pending['acted'])} HR event(s) never acted on were acted on by the night: "
                        + ", ".join(a["event_id"] for a in pending["acted"][:20]))
    if pending["held"]:
        warnings.append(f"{len(pending['held'])} HR event(s) held (urgent_hold alert): "
                        + ", ".join(h["event_id"] for h in pending["held"][:20]))
    if pending["dead_lettered"]:
        warnings.append(f"{len(pending['errors'])} bad HR event(s) dead-lettered: " + "; ".join(pending["errors"][:5]))
    url = settings.warehouse_for("transformer")
    wh = Warehouse.open(url)
    contradicted, audit = [], []
    with wh.transaction() as con:
        ensure_urgent_tables(wh, con)
        ensure_audit_log(wh, con)
        acted = wh.rows(con, f"SELECT event_id, kind, employee_id, effective_at, reported_at, ticket_ids, source_file, "
                               f"source_line, event_sha256, source FROM {EVENTS} WHERE status = 'acted' "
                               f"AND contradicted_on IS NULL AND reported_at < %s", (_end_of(run_date),))
        hr = {}
        if acted and _has(wh, con, "raw", "hr__employees"):
            ids = sorted({a["employee_id"] for a in acted})
            hr = {r["employee_id"]: r for r in wh.rows(
                con, f"SELECT employee_id, status, notice_date, termination_date FROM raw.hr__employees "
                         f"WHERE _feed_date = %s AND employee_id IN ({', '.join(['%s'] * len(ids))})",
                (run_date, *ids))}
        for a in acted:
            row = hr.get(a["employee_id"])
            if row is None or a["kind"] in ev.LEAVE_KINDS:
                continue  # no snapshot of D for the employee: no evidence either way
            if a["kind"] in ev.LEAVER_KINDS:
                contradicts = row["status"] != "terminated" and row["termination_date"] is None
            else:
                contradicts = row["status"] not in ("notice", "terminated") and row["notice_date"] is None
            if not contradicts:
                continue
            e = ev.HrEvent(a["event_id"], a["kind"], a["employee_id"], _utc(a["effective_at"]),
                           _utc(a["reported_at"]), a["source"], a["source_file"], a["source_line"],
                           a["event_sha256"])
            tickets = json.loads(a["ticket_ids"] or "[]")
            con.execute(f"UPDATE {EVENTS} SET contradicted_on = %s WHERE event_id = %s", (run_date, a["event_id"]))
            audit.append(_audit(e, "contradicted", run_id=run_id, now=now, outcome="contradicted",
                                details={"snapshot_date": run_date.isoformat(), "hr_status": row["status"],
                                         "tickets": tickets, "freeze": "kept"}))
            contradicted.append(Alert.build(
                kind=URGENT_CONTRADICTED, severity="critical", subject_type="employee", subject_id=a["employee_id"],
                facts={"event_id": a["event_id"], "kind": a["kind"], "effective_at": ev.iso(e.effective_at),
                       "reported_at": ev.iso(e.reported_at), "snapshot_date": run_date.isoformat(),
                       "hr_status": row["status"], "ticket_ids": tickets},
                identity={"event_id": a["event_id"]}, run_id=run_id, run_date=run_date,
                title=f"HR snapshot of {run_date} contradicts HR event {a['event_id']} ({a['kind']}) for employee "
                      f"{a['employee_id']}: status {row['status']}, no {'termination' if a['kind'] in ev.LEAVER_KINDS else 'notice'}. "
                      f"Access stays frozen; a person must check"))
        append_audit_events(wh, con, audit)
    sent = {}
    if contradicted:
        warnings.append(f"{len(contradicted)} HR event(s) contradicted by the HR snapshot of {run_date} "
                        f"(critical alert; the freeze stays)")
        sent = dispatch_alerts(settings.warehouse_for("dispatcher"), contradicted, run_date=run_date, run_id=run_id,
                               out=Path(settings.out), config_path=settings.alerting_config)
    return {"date": run_date.isoformat(), "acted_at_night": len(pending["acted"]), "held": len(pending["held"]),
            "dead_lettered": len(pending["errors"]), "contradicted": len(contradicted),
            "acted_events": [a["event_id"] for a in pending["acted"]],
            "contradicted_events": [a.facts["event_id"] for a in contradicted], "alerts": sent, "warnings": warnings}
