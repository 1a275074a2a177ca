"""The urgent path and the night (issue 24): the night treats an event's tickets as its own (no
second ticket), acts on an event file never acted on and reports it, and raises a critical alert
when its HR snapshot contradicts an event already acted on (the freeze stays)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from fixtures.events import event, write_event
from fixtures.nights import D, MINIMAL_NIGHT, REPO, write_night
from fixtures.tickets import query
from vigil.actions import urgent
from vigil.ingest import events as ev
from vigil.pipeline import run_nightly

pytestmark = pytest.mark.slow

D1 = D + dt.timedelta(days=1)
D2 = D + dt.timedelta(days=2)


def _employee(eid: str, **kw) -> dict:
    row = dict(employee_id=eid, department="Payments", position="Clerk", employment_type="permanent",
               hire_date="2020-01-06", status="active")
    row.update(kw)
    return row


def night(day: dt.date) -> dict:
    data = copy.deepcopy(MINIMAL_NIGHT)
    hr, iam = data["hr"]["employees"], data["iam"]
    hr += [_employee("000104"), _employee("000105"), *[_employee(f"F{i:03d}") for i in range(20)]]  # a headcount a leaver barely moves
    iam["accounts"] += [
        dict(account_id="u103", system="AD", username="cwen", employee_id="000103", status="enabled", is_privileged="false"),
        dict(account_id="u104", system="AD", username="dlee", employee_id="000104", status="enabled", is_privileged="false"),
        dict(account_id="u105", system="AD", username="efox", employee_id="000105", status="enabled", is_privileged="false"),
    ]
    iam["entitlements"] += [dict(system="AD", account_id="u103", entitlement="staff", is_privileged="false"),
                            dict(system="AD", account_id="u104", entitlement="db_admin", is_privileged="true"),
                            dict(system="AD", account_id="u105", entitlement="staff", is_privileged="false")]
    if day >= D1:
        for row in hr:
            if row["employee_id"] == "000101":  # HR confirms the dismissal
                row.update(status="terminated", termination_date=D1.isoformat(), termination_reason="dismissal")
            if row["employee_id"] == "000104":  # HR confirms the resignation
                row.update(status="notice", notice_date=D1.isoformat())
            if row["employee_id"] == "000105":  # HR confirms the dismissal, its last day a day before the event's
                row.update(status="terminated", termination_date=D.isoformat(), termination_reason="dismissal")
            # 000103 stays active: HR contradicts the dismissal event
    if day == D2:  # IAM shows the account disabled after the night of D1 (IAM acted on the ticket late)
        for row in iam["accounts"]:
            if row["account_id"] == "u101":
                row.update(status="disabled", disabled_at=f"{D2}T00:30:00Z")
            if row["account_id"] == "u105":
                row.update(status="disabled", disabled_at=f"{D2}T00:45:00Z")
    return data


def test_the_night_adopts_event_tickets_reconciles_missed_events_and_alerts_a_contradiction(settings):
    # tickets really go out: the demo's file drop for every system (so they are "sent", then closable)
    settings = settings.with_(delivery_config=REPO / "config" / "delivery.demo.yml")
    landing = Path(settings.landing)
    write_night(landing, D, night(D))
    first = run_nightly(settings, D)
    assert first.status == "published", first.error

    folder = ev.events_dir(landing)
    at = dt.datetime.combine(D1, dt.time(10, 0), tzinfo=dt.timezone.utc)
    files = [write_event(folder, event("ev-a", "dismissal", "000101", effective_at=f"{D1}T09:00:00Z",
                                       reported_at=f"{D1}T09:05:00Z")),
             write_event(folder, event("ev-b", "dismissal", "000103", effective_at=f"{D1}T09:30:00Z",
                                       reported_at=f"{D1}T09:35:00Z")),
             write_event(folder, event("ev-d", "dismissal", "000105", effective_at=f"{D1}T09:50:00Z",
                                       reported_at=f"{D1}T09:55:00Z"))]
    acted = urgent.react_files(settings, files, via="test", now=at, policy=urgent.Policy())
    assert sorted(a["event_id"] for a in acted["acted"]) == ["ev-a", "ev-b", "ev-d"]
    event_tickets = {a["event_id"]: a["tickets"] for a in acted["acted"]}
    event_ticket = event_tickets["ev-a"]
    # written by the producer, never acted on (the channel message was lost, the DAG never ran)
    write_event(folder, event("ev-c", "resignation", "000104", effective_at=f"{D1}T11:00:00Z",
                              reported_at=f"{D1}T11:01:00Z"))

    write_night(landing, D1, night(D1))
    second = run_nightly(settings, D1)
    assert second.status == "published", second.error
    steps = {s.name: s for s in second.steps}
    assert steps["hr events"].counts["acted_at_night"] == 1  # ev-c, reported
    assert any("never acted on were acted on by the night: ev-c" in w for w in steps["hr events"].warnings)
    assert steps["hr events"].counts["contradicted"] == 1

    # no second ticket: one per (kind, employee, system, day), the event's ids kept
    assert query(settings.warehouse, "SELECT group_key FROM tickets.tickets GROUP BY group_key HAVING count(*) > 1") == []
    assert [r["ticket_id"] for r in query(settings.warehouse,
                                          "SELECT ticket_id FROM tickets.tickets WHERE employee_id = '000101'")] \
        == event_ticket
    # HR recorded 000105's last day as D, the event said D1: the same departure, the event's ticket adopted
    assert [r["ticket_id"] for r in query(settings.warehouse,
                                          "SELECT ticket_id FROM tickets.tickets WHERE employee_id = '000105'")] \
        == event_tickets["ev-d"]
    assert steps["create tickets"].counts["adopted"] == 1
    adopted = query(settings.warehouse, "SELECT ticket_id FROM audit.audit_log WHERE event = 'adopted'")
    assert [a["ticket_id"] for a in adopted] == event_tickets["ev-d"]
    notice = query(settings.warehouse, "SELECT kind, run_id FROM tickets.tickets WHERE employee_id = '000104'")
    assert notice == [{"kind": "notice_restriction", "run_id": "urgent__ev-c"}]  # acted on by the night's sweep
    assert steps["create tickets"].counts["unchanged"] >= 2  # the nightly rules found them issued

    # HR says 000103 is still active: a critical alert, and the freeze is not undone
    alerts = [json.loads(line) for line in (Path(settings.out) / "alerts" / D1.isoformat() / "alerts.jsonl")
              .read_text().splitlines()]
    contradicted = [a for a in alerts if a["kind"] == "urgent_contradicted"]
    assert len(contradicted) == 1 and contradicted[0]["severity"] == "critical"
    assert contradicted[0]["subject_id"] == "000103"
    assert {r["status"] for r in query(settings.warehouse,
                                       "SELECT status FROM tickets.tickets WHERE employee_id = '000103'")} == {"sent"}
    logged = query(settings.warehouse, "SELECT event FROM audit.audit_log WHERE event = 'urgent_contradicted'")
    assert len(logged) == 1

    # the next night: IAM shows the account disabled. The event's ticket is closed the nightly way
    # (the verification), and the response time is measured from HR's reported_at (D1 09:05), not
    # from the start of the termination day: 15 h 25 min, not 24 h 30 min.
    write_night(landing, D2, night(D2))
    third = run_nightly(settings, D2)
    assert third.status == "published", third.error
    closed = query(settings.warehouse, "SELECT status FROM tickets.tickets WHERE employee_id = '000101'")
    assert closed == [{"status": "closed"}]
    assert query(settings.warehouse, "SELECT outcome FROM audit.audit_log WHERE event = 'closed' AND subject = '000101'") \
        == [{"outcome": "disabled"}]
    hours = query(settings.warehouse, "SELECT hours_to_revoke FROM marts.fct_leaver_revocations WHERE account_id = 'u101'")
    assert [float(h["hours_to_revoke"]) for h in hours] == [15.42]
    # 000105: HR's day (D) is a day before the event's; measured from the event's reported_at
    # (D1 09:55 -> D2 00:45: 14 h 50 min), not from 00:00 of D (48 h 45 min)
    hours = query(settings.warehouse, "SELECT hours_to_revoke FROM marts.fct_leaver_revocations WHERE account_id = 'u105'")
    assert [float(h["hours_to_revoke"]) for h in hours] == [14.83]
    assert query(settings.warehouse, "SELECT status FROM tickets.tickets WHERE employee_id = '000105'") \
        == [{"status": "closed"}]

