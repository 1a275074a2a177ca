"""Alerts from the published tables, and the builders for alerts the pipeline itself makes.

`derive_alerts` reads only the ``publish`` schema (the tables of docs/models.md, "Published
tables"), and only the rows of run date D (``as_of_date = D``): a night that was not published
(held, failed) derives nothing, so nothing stale is sent under tonight's date.

| kind | table | when | subject |
|---|---|---|---|
| complainant_tier_up | pub_complainant_tier_changes (+ pub_complainant_tiers) | direction up (into medium or high) | complainant_id |
| departure_risk_high | pub_departure_risk_changes + pub_departure_risk | moved up into high, active, with n_clients > 0 or privileged access | employee_id |
| handover_overdue | pub_access_exceptions | exception_kind handover_overdue; one alert per departed RM and due date | employee_id (the RM) |
| post_termination_login | pub_post_termination_logins | first reported within the last `catch_up_days` nights | employee_id |
| complaint_surge | pub_complaint_surges | every incident in the table's report window | branch_id |
| complaint_deadline_breach | pub_complaint_deadlines | open past its deadline (P1) | complaint_id |
| case_overdue, case_claim_unverified | pub_case_escalations | a case went past due_by; resolved in the ITSM, unverified after the grace | case_id (owner_team in the facts) |
| cases_digest | pub_cases (+ pub_case_escalations) | the response loop's first night: one per owner team instead of one per case | owner_team |
| incident_severe | pub_incidents | severity in incident_severe_levels (high, critical) | incident_id |
| incident_review_overdue | pub_incidents | restored, post-event review past its due date | incident_id |
| complainant_contact_overdue | pub_complainant_handling | the due contact missed (one per due date) | person_key |
| complainant_handling_planned | pub_complainant_handling | plans made tonight (the go-live population on night 1): one digest | night |

Tables and rows that persist across nights (a surge, an open breach, a login) derive the same
alert every night with the same id; the ledger makes sure each is sent once.
"""

from __future__ import annotations

import datetime as dt
import logging

from vigil.actions.alerts.model import (
    BREAKER_HOLD,
    CASE_CLAIM_UNVERIFIED,
    CASE_OVERDUE,
    CASES_DIGEST,
    COMPLAINANT_CONTACT_OVERDUE,
    COMPLAINANT_HANDLING_PLANNED,
    COMPLAINANT_TIER_UP,
    COMPLAINT_DEADLINE_BREACH,
    COMPLAINT_SURGE,
    DATA_QUALITY_FAILURE,
    DEPARTURE_RISK_HIGH,
    HANDOVER_OVERDUE,
    INCIDENT_REVIEW_OVERDUE,
    INCIDENT_SEVERE,
    POST_TERMINATION_LOGIN,
    TICKET_OVERDUE,
    TICKETS_DEAD_LETTERED,
    TICKETS_REFUSED,
    Alert,
    make_alert_id,
    sort_key,
)
from vigil.config import is_drill_id
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

#: A post-termination login first reported up to this many nights before D is still alerted
#: (when a night's alerts were never dispatched); older ones are left to the review pack.
CATCH_UP_DAYS = 7
MAX_ERROR_CHARS = 200


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else dt.date.fromisoformat(str(value)[:10])


class _Reader:
    """The published tables of one schema: which are there, and SELECTs on them ({s}: the schema)."""

    def __init__(self, wh: Warehouse, con, schema: str):
        self.wh, self.con, self.schema = wh, con, schema
        self.tables = {t.split(".", 1)[1] for t in wh.list_tables(con, (schema,))}

    def has(self, *tables: str) -> bool:
        missing = [t for t in tables if t not in self.tables]
        if missing:
            log.warning("alerts: %s.%s not published yet; its alerts are skipped", self.schema, ", ".join(missing))
        return not missing

    def rows(self, sql: str, params=()) -> list[dict]:
        return self.wh.rows(self.con, sql.replace("{s}", self.schema), params)


def derive_alerts(warehouse_url: str, run_date: dt.date, run_id: str, *, schema: str = "publish",
                  catch_up_days: int = CATCH_UP_DAYS) -> list[Alert]:
    """Every alert tonight's published tables call for (the ledger later drops those already sent)."""
    run_date = _date(run_date)
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        r = _Reader(wh, con, schema)
        alerts: list[Alert] = []
        alerts += _complainant_tier_up(r, run_date, run_id)
        alerts += _departure_risk_high(r, run_date, run_id)
        alerts += _handover_overdue(r, run_date, run_id)
        alerts += _post_termination_logins(r, run_date, run_id, catch_up_days)
        alerts += _complaint_surges(r, run_date, run_id)
        alerts += _deadline_breaches(r, run_date, run_id)
        alerts += _cases(r, run_date, run_id)
        alerts += _incidents(r, run_date, run_id)
        alerts += _complainant_handling(r, run_date, run_id)
    return sorted(alerts, key=sort_key)


def _complainant_tier_up(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    if not r.has("pub_complainant_tier_changes", "pub_complainant_tiers"):
        return []
    rows = r.rows(
        """SELECT c.alert_key, c.complainant_id, c.previous_tier, c.current_tier, c.previous_points,
                  c.current_points, c.recommended_handling, c.previous_as_of_date, c.rule_id, c.policy_version,
                  t.client_id, t.handling_group, t.contact_every_days, t.legal_linkage, t.n_complaints_window,
                  t.is_repeat_complainant, t.has_insider_link, t.n_external_escalations_window,
                  t.n_open_past_deadline, t.worst_severity
           FROM {s}.pub_complainant_tier_changes c
           LEFT JOIN {s}.pub_complainant_tiers t ON t.complainant_id = c.complainant_id AND t.as_of_date = c.as_of_date
           WHERE c.direction = 'up' AND c.as_of_date = %s
           ORDER BY c.complainant_id""",
        (d,),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in (
            "previous_tier", "current_tier", "previous_points", "current_points", "recommended_handling",
            "handling_group", "contact_every_days", "legal_linkage", "client_id", "n_complaints_window",
            "is_repeat_complainant", "has_insider_link", "n_external_escalations_window", "n_open_past_deadline",
            "worst_severity", "previous_as_of_date")}
        facts["alert_key"] = row["alert_key"]
        was = row["previous_tier"] or "low"
        out.append(Alert.build(
            kind=COMPLAINANT_TIER_UP, severity="high" if row["current_tier"] == "high" else "medium",
            subject_type="complainant", subject_id=row["complainant_id"], facts=facts,
            identity=row["alert_key"], run_id=run_id, run_date=d,
            title=f"Complainant {row['complainant_id']} moved up to tier {row['current_tier']} (was {was}): "
                  f"{row['recommended_handling'] or 'see handling policy'}",
            rule_id=row["rule_id"], policy_version=row["policy_version"],
        ))
    return out


def _departure_risk_high(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    if not r.has("pub_departure_risk_changes", "pub_departure_risk"):
        return []
    rows = r.rows(
        """SELECT c.alert_key, c.employee_id, c.department, c.position, c.previous_tier, c.current_tier,
                  c.previous_score, c.current_score, c.rule_id, c.policy_version,
                  p.n_clients, p.clients_aum, p.has_privileged_access, p.n_signals, p.has_performance_drop,
                  p.has_recent_job_change, p.has_demotion, p.has_contract_ending, p.contract_end_date,
                  p.has_given_notice, p.has_manager_left
           FROM {s}.pub_departure_risk_changes c
           JOIN {s}.pub_departure_risk p ON p.employee_id = c.employee_id AND p.as_of_date = c.as_of_date
           WHERE c.direction = 'up' AND c.current_tier = 'high' AND c.is_active_employee
             AND c.as_of_date = %s AND (coalesce(p.n_clients, 0) > 0 OR p.has_privileged_access)
           ORDER BY c.employee_id""",
        (d,),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in row if k not in ("alert_key", "employee_id", "rule_id", "policy_version")}
        facts["alert_key"] = row["alert_key"]
        why = []
        if (row["n_clients"] or 0) > 0:
            why.append(f"{row['n_clients']} clients")
        if row["has_privileged_access"]:
            why.append("privileged access")
        out.append(Alert.build(
            kind=DEPARTURE_RISK_HIGH, severity="high", subject_type="employee", subject_id=row["employee_id"],
            facts=facts, identity=row["alert_key"], run_id=run_id, run_date=d,
            title=f"Departure risk of employee {row['employee_id']} turned high (score {row['current_score']}; "
                  f"{', '.join(why)})",
            rule_id=row["rule_id"], policy_version=row["policy_version"],
        ))
    return out


def _handover_overdue(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    if not r.has("pub_access_exceptions"):
        return []
    rows = r.rows(
        """SELECT exception_id, rule_id, employee_id, client_id, event_date, due_date, days_overdue, detail,
                  priority, policy_version
           FROM {s}.pub_access_exceptions
           WHERE exception_kind = 'handover_overdue' AND as_of_date = %s
           ORDER BY employee_id, due_date, client_id""",
        (d,),
    )
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["employee_id"], row["due_date"]), []).append(row)
    out = []
    for (rm, due), members in groups.items():
        clients = sorted({m["client_id"] for m in members if m["client_id"]})
        facts = {
            "rm_termination_date": members[0]["event_date"], "due_date": due,
            "days_overdue": max((m["days_overdue"] or 0) for m in members),
            "n_clients": len(clients), "client_ids": clients,
            "crm_still_names_departed_rm": any("still names" in (m["detail"] or "") for m in members),
            "exception_ids": sorted(m["exception_id"] for m in members),
        }
        out.append(Alert.build(
            kind=HANDOVER_OVERDUE, severity="high" if any(m["priority"] == "P1" for m in members) else "medium",
            subject_type="employee", subject_id=rm, facts=facts, identity={"rm": rm, "due_date": due},
            run_id=run_id, run_date=d,
            title=f"Handover overdue: {len(clients)} active client(s) of departed RM {rm} have no new RM "
                  f"(due {_date(due).isoformat() if due else '?'})",
            rule_id=members[0]["rule_id"], policy_version=members[0]["policy_version"],
        ))
    return out


def _post_termination_logins(r: _Reader, d: dt.date, run_id: str, catch_up_days: int) -> list[Alert]:
    if not r.has("pub_post_termination_logins"):
        return []
    since = d - dt.timedelta(days=max(catch_up_days - 1, 0))
    rows = r.rows(
        """SELECT alert_key, employee_id, system, account_id, login_at, login_date, termination_date,
                  days_after_termination, outcome, source, first_reported_on, account_status, priority, rule_id,
                  policy_version
           FROM {s}.pub_post_termination_logins
           WHERE as_of_date = %s AND (is_new OR first_reported_on >= %s)
           ORDER BY employee_id, login_at, system, account_id""",
        (d, since),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in ("system", "account_id", "login_at", "login_date", "termination_date",
                                      "days_after_termination", "outcome", "source", "first_reported_on",
                                      "account_status", "priority", "alert_key")}
        out.append(Alert.build(
            kind=POST_TERMINATION_LOGIN, severity="critical" if row["priority"] == "P1" else "high",
            subject_type="employee", subject_id=row["employee_id"], facts=facts, identity=row["alert_key"],
            run_id=run_id, run_date=d,
            title=f"Login on {row['system']} account {row['account_id']} by leaver {row['employee_id']} "
                  f"{row['days_after_termination']} day(s) after termination (account {row['account_status']})",
            rule_id=row["rule_id"], policy_version=row["policy_version"],
        ))
    return out


def _complaint_surges(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    if not r.has("pub_complaint_surges"):
        return []
    rows = r.rows(
        """SELECT alert_key, branch_id, category, surge_date, n_complaints, baseline_total, baseline_days,
                  baseline_daily_mean, baseline_ratio, is_new, rule_id, policy_version
           FROM {s}.pub_complaint_surges WHERE as_of_date = %s
           ORDER BY surge_date, branch_id, category""",
        (d,),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in ("category", "surge_date", "n_complaints", "baseline_total", "baseline_days",
                                      "baseline_daily_mean", "baseline_ratio", "alert_key")}
        ratio = f"{row['baseline_ratio']}x the daily mean" if row["baseline_ratio"] is not None else "no baseline"
        out.append(Alert.build(
            kind=COMPLAINT_SURGE, severity="medium", subject_type="branch", subject_id=row["branch_id"],
            facts=facts, identity=row["alert_key"], run_id=run_id, run_date=d,
            title=f"Complaint surge at branch {row['branch_id']}: {row['n_complaints']} '{row['category']}' "
                  f"complaints on {_date(row['surge_date']).isoformat()} ({ratio})",
            rule_id=row["rule_id"], policy_version=row["policy_version"],
        ))
    return out


def _deadline_breaches(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    if not r.has("pub_complaint_deadlines"):
        return []
    rows = r.rows(
        """SELECT alert_key, complaint_id, complainant_id, client_id, channel, category, branch_id,
                  received_date, deadline_date, days_past_deadline, is_externally_escalated, insider_link,
                  names_employee, employee_id, is_new_breach, rule_id, policy_version
           FROM {s}.pub_complaint_deadlines
           WHERE deadline_status = 'open_past_deadline' AND as_of_date = %s
           ORDER BY complaint_id""",
        (d,),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in row if k not in ("complaint_id", "rule_id", "policy_version")}
        serious = bool(row["is_externally_escalated"] or row["insider_link"])
        out.append(Alert.build(
            kind=COMPLAINT_DEADLINE_BREACH, severity="high" if serious else "medium", subject_type="complaint",
            subject_id=row["complaint_id"], facts=facts, identity=row["alert_key"], run_id=run_id, run_date=d,
            title=f"Complaint {row['complaint_id']} ({row['category']}) is {row['days_past_deadline']} day(s) past "
                  f"its response deadline {_date(row['deadline_date']).isoformat()}",
            rule_id=row["rule_id"], policy_version=row["policy_version"],
        ))
    return out


def _incidents(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    """A severe incident alerts the emergency leadership once (IN-01 key); a late post-event review
    escalates once per incident (the review's due date is part of the identity: a corrected restoration
    time that moves it alerts again)."""
    if not r.has("pub_incidents"):
        return []
    rows = r.rows(
        """SELECT alert_key, incident_id, kind, severity, is_severe, location_type, location, customers_affected,
                  started_at, reported_at, activated_at, restored_at, hours_to_report, report_on_time,
                  activate_on_time, post_review_due_date, is_review_overdue, n_linked_surges, rule_id, policy_version
           FROM {s}.pub_incidents WHERE as_of_date = %s AND (is_severe OR is_review_overdue)
           ORDER BY incident_id""",
        (d,),
    )
    out = []
    for row in rows:
        facts = {k: row[k] for k in row if k not in ("incident_id", "rule_id", "policy_version", "is_severe")}
        place = row["location"] or "bank-wide"
        if row["is_severe"]:
            out.append(Alert.build(
                kind=INCIDENT_SEVERE, severity="critical" if row["severity"] == "critical" else "high",
                subject_type="incident", subject_id=row["incident_id"], facts=facts, identity=row["alert_key"],
                run_id=run_id, run_date=d, rule_id=row["rule_id"], policy_version=row["policy_version"],
                title=f"{row['severity'].capitalize()} {row['kind'].replace('_', ' ')} incident {row['incident_id']} "
                      f"({row['location_type']} {place}) since {_date(row['started_at']).isoformat()}",
            ))
        if row["is_review_overdue"]:
            due = _date(row["post_review_due_date"])
            out.append(Alert.build(
                kind=INCIDENT_REVIEW_OVERDUE, severity="high", subject_type="incident", subject_id=row["incident_id"],
                facts=facts, identity=[row["alert_key"], due.isoformat()], run_id=run_id, run_date=d,
                rule_id=row["rule_id"], policy_version=row["policy_version"],
                title=f"Incident {row['incident_id']}: post-event review was due {due.isoformat()} and is not done",
            ))
    return out


def _complainant_handling(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    """One alert per missed contact (CT-02 key names the due date: a new missed contact alerts again), and
    one digest of tonight's new plans: on the first night that is the whole go-live population."""
    if not r.has("pub_complainant_handling"):
        return []
    rows = r.rows(
        """SELECT alert_key, person_key, complainant_ids, n_complainant_ids, insider_link, tier, handling_group,
                  contact_every_days, legal_linkage, tier_entered_on, is_go_live, is_new_plan, last_contact_date,
                  next_contact_due, days_to_contact_due, is_contact_overdue, rule_id, policy_version
           FROM {s}.pub_complainant_handling WHERE as_of_date = %s
           ORDER BY person_key""",
        (d,),
    )
    out = []
    for row in rows:
        if not row["is_contact_overdue"]:
            continue
        facts = {k: row[k] for k in ("tier", "handling_group", "contact_every_days", "legal_linkage", "complainant_ids",
                                     "insider_link", "last_contact_date", "next_contact_due", "alert_key")}
        facts["days_overdue"] = -int(row["days_to_contact_due"])
        out.append(Alert.build(
            kind=COMPLAINANT_CONTACT_OVERDUE, severity="high" if row["tier"] == "high" else "medium",
            subject_type="complainant", subject_id=row["person_key"], facts=facts, identity=row["alert_key"],
            run_id=run_id, run_date=d, rule_id=row["rule_id"], policy_version=row["policy_version"],
            title=f"Key complainant {row['person_key']} ({row['tier']}): contact due "
                  f"{_date(row['next_contact_due']).isoformat()} was not made",
        ))
    new = [row for row in rows if row["is_new_plan"]]
    if new:
        by_tier: dict[str, int] = {}
        for row in new:
            by_tier[row["tier"]] = by_tier.get(row["tier"], 0) + 1
        go_live = all(row["is_go_live"] for row in new)
        facts = {"plans": len(new), "by_tier": by_tier, "go_live": go_live,
                 "person_keys": [row["person_key"] for row in new][:500],
                 "legal_linkage": sum(1 for row in new if row["legal_linkage"])}
        out.append(Alert.build(
            kind=COMPLAINANT_HANDLING_PLANNED, severity="medium", subject_type="night", subject_id=d.isoformat(),
            facts=facts, identity=sorted(facts["person_keys"]), run_id=run_id, run_date=d,
            rule_id=new[0]["rule_id"], policy_version=new[0]["policy_version"],
            title=(f"Go-live: {len(new)} key complainants planned for handling" if go_live else
                   f"{len(new)} new key-complainant handling plan(s)")
                  + " (" + ", ".join(f"{n} {t}" for t, n in sorted(by_tier.items())) + ")",
        ))
    return out


# --------------------------------------------------------------------------- pipeline-made alerts


def _cases(r: _Reader, d: dt.date, run_id: str) -> list[Alert]:
    """Case escalations to the owner team (docs/cases.md). On the response loop's first night the
    whole open population is new: one digest per owner team rather than one alert per case."""
    if not r.has("pub_cases", "pub_case_escalations"):
        return []
    escalations = r.rows("SELECT * FROM {s}.pub_case_escalations WHERE as_of_date = %s ORDER BY case_id, escalation",
                         (d,))
    go_live = r.rows("SELECT count(*) AS n FROM {s}.pub_cases WHERE as_of_date = %s AND opened_on < %s", (d, d))
    if go_live and go_live[0]["n"] == 0:  # every case opened tonight: the go-live night
        cases = r.rows("SELECT case_id, kind, owner_team, due_by, subject_id FROM {s}.pub_cases "
                       "WHERE as_of_date = %s AND status <> 'closed_verified' ORDER BY owner_team, case_id", (d,))
        by_team: dict[str, list[dict]] = {}
        for c in (c for c in cases if not is_drill_id(c["subject_id"])):  # a drill's case: docs/drills.md
            by_team.setdefault(c["owner_team"], []).append(c)
        out = []
        for team, rows in sorted(by_team.items()):
            kinds: dict[str, int] = {}
            for c in rows:
                kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
            overdue = sum(1 for c in rows if _date(c["due_by"]) < d)
            out.append(Alert.build(
                kind=CASES_DIGEST, severity="medium", subject_type="team", subject_id=team,
                facts={"owner_team": team, "n_open": len(rows), "n_overdue": overdue, "by_kind": kinds,
                       "case_ids": [c["case_id"] for c in rows][:500]},
                identity=f"cases-go-live:{team}:{d.isoformat()}", run_id=run_id, run_date=d,
                title=f"{len(rows)} open cases for team {team} ({overdue} past due): see cases/{d.isoformat()}/cases.jsonl",
            ))
        return out
    drills = {c["case_id"] for c in r.rows("SELECT case_id, subject_id FROM {s}.pub_cases WHERE as_of_date = %s",
                                           (d,)) if is_drill_id(c["subject_id"])}
    out = []
    for e in escalations:
        overdue = e["escalation"] == "overdue"
        out.append(Alert.build(
            kind=CASE_OVERDUE if overdue else CASE_CLAIM_UNVERIFIED,
            severity="high" if e["priority"] == "P1" else "medium", subject_type="case", subject_id=e["case_id"],
            facts={"owner_team": e["owner_team"], "case_kind": e["kind"], "due_by": e["due_by"], "days": e["days"],
                   "priority": e["priority"], "alert_key": e["alert_key"],
                   **({"is_drill": True} if e["case_id"] in drills else {})},  # routed to the drill teams only
            identity=e["alert_key"], run_id=run_id, run_date=d,
            title=(f"Case {e['case_id']} ({e['kind']}) of team {e['owner_team']} is {e['days']} days past due"
                   if overdue else
                   f"Case {e['case_id']} ({e['kind']}) of team {e['owner_team']}: resolved in the ITSM "
                   f"{e['days']} days ago, the data still shows it"),
            policy_version=e["policy_version"],
        ))
    return out


def breaker_hold_alert(decision: dict, run_id: str) -> Alert:
    """The night is held (vigil.gates.breakers.BreakerDecision.to_dict()). Same plan on a rerun = same id."""
    d = _date(decision["run_date"])
    keys = ("status", "yesterday_date", "yesterday_active", "today_active", "planned_revocations",
            "revocation_threshold", "headcount_drop", "reasons", "fingerprint", "held", "goes_out")
    facts = {k: decision.get(k) for k in keys if k in decision}
    identity = {"fingerprint": decision.get("fingerprint"), "reasons": list(decision.get("reasons") or [])}
    n = len(decision.get("reasons") or [])
    held = list(decision.get("held") or ["publish"])
    if "publish" in held:
        what = "nothing published until approved"
    else:
        what = (f"held until approved: {', '.join(held)}; published, going out: "
                f"{', '.join(decision.get('goes_out') or [])}")
    return Alert.build(
        kind=BREAKER_HOLD, severity="critical", subject_type="night", subject_id=d.isoformat(), facts=facts,
        identity=identity, run_id=run_id, run_date=d,
        title=f"Night {d.isoformat()} HELD by the circuit breakers ({n} reason{'s' if n != 1 else ''}; "
              f"{decision.get('planned_revocations')} planned revocations): {what}",
    )


def _failure_dict(f) -> dict:
    """A failed expectation as a dict: accepts dicts (pipeline, tests) and ExpectationOutcome objects."""
    if isinstance(f, dict):
        return dict(f)
    fields = ("suite", "table", "expectation", "expectation_type", "check", "severity", "element_count",
              "unexpected_count", "unexpected_percent", "observed", "error", "column", "layer")
    return {k: getattr(f, k) for k in fields if hasattr(f, k)}


def data_quality_alert(failures, run_date, run_id: str) -> Alert:
    """The data-quality gate stopped the night. `failures`: a list of failed expectations (dicts
    with suite, expectation, column, unexpected_count, element_count, ... or
    vigil.gates.quality ExpectationOutcome objects), or a GateResult (its critical failures are used).
    Only counts and names are kept: never the offending values."""
    d = _date(run_date)
    if hasattr(failures, "failed_critical"):  # a GateResult
        layer = getattr(failures, "layer", None)
        failures = [dict(_failure_dict(f), layer=layer) for f in failures.failed_critical]
    items = []
    for f in map(_failure_dict, failures):
        expectation = f.get("expectation")
        column = f.get("column")
        if column is None and expectation and ":" in str(expectation):
            column = str(expectation).split(":", 1)[1]
            if column in ("columns", "rows"):
                column = None
        item = {
            "suite": f.get("suite"), "table": f.get("table"), "layer": f.get("layer"),
            "expectation": expectation, "check": f.get("check"), "column": column,
            "unexpected_count": f.get("unexpected_count"), "element_count": f.get("element_count"),
        }
        observed = f.get("observed")
        if isinstance(observed, (int, float)) and not isinstance(observed, bool):
            item["observed"] = observed  # a count or a ratio; other observations may list values
        if f.get("error"):
            item["error"] = " ".join(str(f["error"]).split())[:MAX_ERROR_CHARS]
        items.append({k: v for k, v in item.items() if v is not None})
    items.sort(key=lambda i: (str(i.get("suite")), str(i.get("expectation"))))
    suites = sorted({str(i.get("suite")) for i in items})
    layers = sorted({str(i["layer"]) for i in items if i.get("layer")})
    facts = {"n_failures": len(items), "suites": suites, "layers": layers, "failures": items}
    identity = [d.isoformat(), [(i.get("suite"), i.get("expectation")) for i in items]]
    return Alert.build(
        kind=DATA_QUALITY_FAILURE, severity="critical", subject_type="night", subject_id=d.isoformat(),
        facts=facts, identity=identity, run_id=run_id, run_date=d,
        title=f"Night {d.isoformat()} stopped by the data-quality gate: {len(items)} critical expectation(s) "
              f"failed in {', '.join(suites[:3])}{' and more' if len(suites) > 3 else ''}",
    )


def dead_letter_alert(ticket_ids: list, run_date, run_id: str, details: dict | None = None) -> Alert:
    """Revocation tickets gave up on (dead-lettered). `ticket_ids`: ids (or dicts with ticket_id);
    `details`: small counts or terms (e.g. {"dead_lettered": 3, "system": "AD"}). Same tickets
    dead-lettered again (a rerun, a later night) = same id: alerted once."""
    d = _date(run_date)
    ids = sorted({str(t.get("ticket_id") if isinstance(t, dict) else t) for t in ticket_ids})
    facts = {"n_tickets": len(ids), "ticket_ids": ids}
    for k, v in (details or {}).items():
        if v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 100):
            facts.setdefault(str(k), v)
    # The id depends on the tickets only, not on the night that reported them.
    return Alert(
        make_alert_id(TICKETS_DEAD_LETTERED, "tickets", "", ids), TICKETS_DEAD_LETTERED, "high", "night",
        d.isoformat(), facts, run_id, d.isoformat(),
        f"{len(ids)} revocation ticket(s) dead-lettered on {d.isoformat()}: access may still be open",
    )


def refused_tickets_alert(refused: list[dict], run_date, run_id: str) -> Alert:
    """Tonight's facts would change a ticket already issued (more actions under the same leaver and
    system, or an exposure back after its ticket closed): nothing was sent, a person must look.
    `refused`: create_tickets' ``refused`` list ({ticket_id, existing_ticket_id, reason}). The same
    refusals reported again (a rerun, a later night) = the same id: alerted once."""
    d = _date(run_date)
    items = sorted({(str(r["existing_ticket_id"]), str(r["ticket_id"]), str(r["reason"])[:200]) for r in refused})
    facts = {"n_refused": len(items),
             "refused": [{"existing_ticket_id": e, "ticket_id": t, "reason": why} for e, t, why in items]}
    return Alert(
        make_alert_id(TICKETS_REFUSED, "tickets", "", [[e, t] for e, t, _ in items]), TICKETS_REFUSED, "high",
        "night", d.isoformat(), facts, run_id, d.isoformat(),
        f"{len(items)} revocation ticket change(s) refused on {d.isoformat()}: an issued ticket would change",
    )


def overdue_ticket_alerts(overdue: list[dict], run_date, run_id: str) -> list[Alert]:
    """Escalation: a delivered (sent or acknowledged) ticket is past its ``due_by`` and tonight's IAM
    snapshot still shows its access open (`create_tickets`' ``overdue``). One alert per ticket,
    whose id depends on the ticket only: however many nights it stays overdue, and whatever its
    priority becomes, the ledger sends it once. Critical for a P1 ticket, else high."""
    d = _date(run_date)
    out = []
    for t in sorted(overdue, key=lambda t: t["ticket_id"]):
        facts = {k: t[k] for k in ("ticket_id", "kind", "system", "priority", "revision", "due_by", "policy_due_by",
                                   "days_overdue", "status", "open_account_ids") if k in t}
        out.append(Alert.build(
            kind=TICKET_OVERDUE, severity="critical" if t["priority"] == "P1" else "high",
            subject_type="ticket", subject_id=t["ticket_id"], facts=dict(facts, employee_id=t["employee_id"]),
            identity={"ticket_id": t["ticket_id"]}, run_id=run_id, run_date=d,
            title=f"Revocation ticket {t['ticket_id']} ({t['priority']}) for employee {t['employee_id']} on "
                  f"{t['system']} was due {t['due_by']} and {len(t['open_account_ids'])} account(s) are still open",
            rule_id=t.get("rule_id"), policy_version=t.get("rule_version"),
        ))
    return out
