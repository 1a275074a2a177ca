"""Issue 24, the nightly interplay when HR and an HR event disagree on the day (docs/events.md,
"The same departure"): an event's ticket carries the event's day; the next night's HR snapshot may
record the termination (or notice) a day later or earlier. The night must recognise the event's
ticket as its own (no second ticket, closed the same way, audited) within `hr_event_window_days`
(3), and must still issue a ticket of its own for a genuinely different departure (far away, or
after a rehire).

Store level: the event's ticket is issued as vigil.actions.urgent issues it (`issue_tickets`, run
id ``urgent__<event_id>``, the nightly model's candidates for the event's day), the night is a
publish layer (fixtures.tickets.build_night), no dbt."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.tickets import POLICY, Leaver, Notice, build_night, query, write_config
from vigil.actions import urgent
from vigil.actions.tickets import close_tickets, create_tickets, deliver_tickets, issue_tickets, plan_tickets
from vigil.actions.tickets.model import build_candidates, hr_event_window_days, ticket_id_for
from vigil.ingest import events as ev
from vigil.store.warehouse import Warehouse

UTC = dt.timezone.utc
HR_DAY = dt.date(2026, 3, 1)         # the termination day in the night's HR snapshot (Leaver's default)
D = dt.date(2026, 3, 2)              # the night
NOW = dt.datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
WINDOW = 3




@pytest.fixture
def drop(tmp_path):
    return write_config(tmp_path / "delivery.yml", {
        "defaults": {"max_attempts": 2, "backoff_base_seconds": 0.01, "lease_seconds": 60},
        "channels": {"drop": {"type": "filedrop", "root": "drops"}}, "default": ["drop"]})


def _end(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(23, 59, 59), tzinfo=UTC)


def event_ticket(url: str, out, day: dt.date, *, event_id: str = "ev-1", employee: str = "E100",
                 system: str = "AD", account: str = "ad-100", entitlements=("staff",), config=None,
                 kind: str = "leaver") -> str:
    """The ticket the same-day path issues for an event effective on `day` (urgent.plan_event's rows)."""
    if kind == "leaver":
        exposure = [{"employee_id": employee, "system": system, "account_id": account, "termination_date": day,
                     "due_at": _end(day + dt.timedelta(days=1)), "priority": "P2", "rule_id": "AL-01",
                     "policy_version": POLICY, "criticality": "high", "ticket_key": f"AL-01:{system}:{account}"}]
        ents = [{"system": system, "account_id": account, "entitlement": e, "is_privileged": False}
                for e in entitlements]
        notice = []
    else:
        exposure, ents = [], []
        notice = [{"employee_id": employee, "system": system, "account_id": account, "entitlement": e,
                   "notice_date": day, "due_at": _end(day), "priority": "P1", "rule_id": "AL-02",
                   "policy_version": POLICY, "ticket_key": f"AL-02:{system}:{account}:{e}"} for e in entitlements]
    cands = build_candidates(exposure, ents, notice, run_date=day, run_id=f"urgent__{event_id}",
                             input_hashes={"hr/x.csv": "ab" * 32}, grace_days=1)
    issued = issue_tickets(url, cands, run_date=day, run_id=f"urgent__{event_id}", out=out, config_path=config,
                           now=dt.datetime.combine(day, dt.time(10), tzinfo=UTC), actor="vigil-urgent")
    assert len(issued["created"]) == 1, issued
    return issued["created"][0]


def hire(url: str, employee: str, hire_date: dt.date, feed_date: dt.date = D) -> None:
    """The HR snapshot's hire_date (a rehire moves it)."""
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute("CREATE TABLE IF NOT EXISTS raw.hr__employees (employee_id VARCHAR, hire_date DATE, "
                    "_feed_date DATE)")
        con.execute("INSERT INTO raw.hr__employees VALUES (%s, %s, %s)", (employee, hire_date, feed_date))


def tickets(url: str, employee: str = "E100") -> list[dict]:
    return query(url, f"SELECT ticket_id, event_date, run_id, status FROM tickets.tickets "
                      f"WHERE employee_id = '{employee}' ORDER BY event_date, ticket_id")


NIGHT = [Leaver("E100", "AD", "ad-100", ("staff",), termination_date=HR_DAY)]


# --------------------------------------------------------------------------- the night after an event


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_the_night_issues_no_second_ticket_when_hr_records_the_day_before_on_or_after_the_event(
        url, tmp_path, offset):
    # HR's termination day = the event's day + offset (the event said HR_DAY - offset)
    mine = event_ticket(url, tmp_path / "out", HR_DAY - dt.timedelta(days=offset))
    build_night(url, D, NIGHT)
    assert plan_tickets(url, D, "plan", schema="publish") == []  # the breakers count no new ticket
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert out["created"] == 0 and out["unchanged"] == 1 and out["refused"] == []
    assert [t["ticket_id"] for t in tickets(url)] == [mine]
    adopted = query(url, "SELECT ticket_id, outcome, details FROM audit.audit_log WHERE event = 'adopted'")
    if offset == 0:  # the same group key: the ordinary rule, nothing to adopt
        assert out["adopted"] == 0 and adopted == []
    else:
        rule_id = ticket_id_for("AL-01", "E100", "AD", ["ad-100"], HR_DAY, POLICY)
        assert [(a["ticket_id"], a["rule_ticket_id"]) for a in out["adopted_tickets"]] == [(mine, rule_id)]
        assert [(a["ticket_id"], a["outcome"]) for a in adopted] == [(mine, "adopted")]
        details = json.loads(adopted[0]["details"])
        assert details["days_apart"] == offset and details["same_departure_as"] == rule_id
        assert details["issued_by"] == "urgent__ev-1"


@pytest.mark.parametrize("offset,second", [(WINDOW, False), (-WINDOW, False), (WINDOW + 1, True),
                                           (-WINDOW - 1, True)])
def test_the_window_is_hr_event_window_days_either_way(url, tmp_path, offset, second):
    assert hr_event_window_days() == WINDOW  # the policy default (dbt_project.yml vars)
    event_ticket(url, tmp_path / "out", HR_DAY - dt.timedelta(days=offset))
    build_night(url, D, NIGHT)
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert (out["created"], len(tickets(url))) == ((1, 2) if second else (0, 1))


def test_a_departure_far_from_the_event_after_a_rehire_gets_its_own_ticket(url, tmp_path):
    # dismissed on 01-10 (the event's ticket), rehired on 02-01, leaves again on 03-01
    first = event_ticket(url, tmp_path / "out", dt.date(2026, 1, 10))
    hire(url, "E100", dt.date(2026, 2, 1))
    build_night(url, D, NIGHT)
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert out["created"] == 1 and out["adopted"] == 0
    assert [t["event_date"] for t in tickets(url)] == [dt.date(2026, 1, 10), HR_DAY]
    assert tickets(url)[0]["ticket_id"] == first


EVENT_DAY = HR_DAY - dt.timedelta(days=1)


@pytest.mark.parametrize("hired,second", [(EVENT_DAY - dt.timedelta(days=1), False), (EVENT_DAY, False),
                                          (EVENT_DAY + dt.timedelta(days=1), True)])
def test_a_rehire_after_the_events_day_is_a_new_departure_even_within_the_window(url, tmp_path, hired, second):
    # the event said 02-28, HR says 03-01: hired after 02-28 (on 03-01) means a new employment that ended
    event_ticket(url, tmp_path / "out", EVENT_DAY)
    hire(url, "E100", hired)
    build_night(url, D, NIGHT)
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert (out["created"], len(tickets(url))) == ((1, 2) if second else (0, 1))


def test_only_a_ticket_sharing_an_account_is_the_same_departure(url, tmp_path):
    event_ticket(url, tmp_path / "out", HR_DAY - dt.timedelta(days=1), account="ad-999")
    build_night(url, D, NIGHT)
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert out["created"] == 1 and out["adopted"] == 0


def test_a_nightly_ticket_of_another_day_is_not_adopted_by_the_night(url, tmp_path):
    # the rule is for the same-day path's tickets: two nights whose HR days differ stay as they were
    build_night(url, D, [Leaver("E100", "AD", "ad-100", ("staff",), termination_date=HR_DAY - dt.timedelta(days=1))])
    create_tickets(url, D, "night-D", out=tmp_path / "out")
    n2 = D + dt.timedelta(days=1)
    build_night(url, n2, NIGHT)
    out = create_tickets(url, n2, "night-D1", out=tmp_path / "out")
    assert out["created"] == 1 and len(tickets(url)) == 2


def test_a_new_entitlement_under_the_adopted_ticket_is_refused_not_a_second_ticket(url, tmp_path):
    mine = event_ticket(url, tmp_path / "out", HR_DAY + dt.timedelta(days=1))
    build_night(url, D, [Leaver("E100", "AD", "ad-100", ("staff", "vpn_access"), termination_date=HR_DAY)])
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert out["created"] == 0 and [r["existing_ticket_id"] for r in out["refused"]] == [mine]
    assert [a["refused"] for a in out["adopted_tickets"]] == [True]
    assert len(tickets(url)) == 1


def test_a_notice_events_ticket_is_adopted_when_hr_records_notice_a_day_later(url, tmp_path):
    mine = event_ticket(url, tmp_path / "out", dt.date(2026, 2, 19), employee="E300", account="ad-300",
                        entitlements=("domain_admin",), kind="notice")
    build_night(url, D, [], [Notice("E300", "AD", "ad-300", "domain_admin")])  # HR: notice on 02-20
    out = create_tickets(url, D, "night-D", out=tmp_path / "out")
    assert out["created"] == 0 and [t["ticket_id"] for t in tickets(url, "E300")] == [mine]


def test_the_adopted_ticket_is_closed_the_nightly_way_and_revised_like_any(url, tmp_path, drop):
    out_dir = tmp_path / "out"
    mine = event_ticket(url, out_dir, HR_DAY + dt.timedelta(days=1), config=drop)
    deliver_tickets(url, drop, out=out_dir, run_id="urgent")
    assert tickets(url)[0]["status"] == "sent"
    # the night: HR says 03-01, the account still enabled and now overdue on a critical system -> P1
    build_night(url, D, [Leaver("E100", "AD", "ad-100", ("staff",), termination_date=HR_DAY, priority="P1")])
    night = create_tickets(url, D, "night-D", out=out_dir, config_path=drop)
    assert night["created"] == 0 and [r["ticket_id"] for r in night["revised"]] == [mine]
    # the next night IAM shows the account disabled: the event's ticket closes, audited
    n2 = D + dt.timedelta(days=1)
    build_night(url, n2, [], accounts=[("AD", "ad-100", "disabled", dt.datetime(2026, 3, 3, 9, tzinfo=UTC))])
    closed = close_tickets(url, n2, now=NOW + dt.timedelta(days=1))
    assert closed["ticket_ids"] == [mine] and tickets(url)[0]["status"] == "closed"
    assert query(url, f"SELECT outcome FROM audit.audit_log WHERE event = 'closed' AND ticket_id = '{mine}'") \
        == [{"outcome": "disabled"}]


# --------------------------------------------------------------------------- an event after the night


@pytest.mark.parametrize("offset,second", [(-1, False), (1, False), (WINDOW + 1, True)])
def test_an_event_after_the_nights_ticket_adopts_it_when_hr_recorded_another_day(url, tmp_path, offset, second):
    build_night(url, D, NIGHT)
    night = create_tickets(url, D, "night-D", out=tmp_path / "out")
    [nightly] = [t["ticket_id"] for t in tickets(url)]
    day = HR_DAY + dt.timedelta(days=offset)
    exposure = [{"employee_id": "E100", "system": "AD", "account_id": "ad-100", "termination_date": day,
                 "due_at": _end(day), "priority": "P2", "rule_id": "AL-01", "policy_version": POLICY,
                 "criticality": "high", "ticket_key": "AL-01:AD:ad-100"}]
    ents = [{"system": "AD", "account_id": "ad-100", "entitlement": "staff", "is_privileged": False}]
    cands = build_candidates(exposure, ents, [], run_date=day, run_id="urgent__ev-9", input_hashes={}, grace_days=1)
    issued = issue_tickets(url, cands, run_date=day, run_id="urgent__ev-9", out=tmp_path / "out", actor="vigil-urgent")
    assert night["created"] == 1
    if second:
        assert len(issued["created"]) == 1 and len(tickets(url)) == 2
    else:
        assert issued["created"] == [] and issued["existing"] == [nightly] and len(tickets(url)) == 1
        assert [a["ticket_id"] for a in issued["adopted_tickets"]] == [nightly]


# --------------------------------------------------------------------------- agreement at event time


@pytest.mark.parametrize("hr_offset,agrees", [(-WINDOW - 1, False), (-WINDOW, True), (-1, True), (0, True),
                                              (1, True), (WINDOW, True), (WINDOW + 1, False)])
def test_an_event_agrees_with_an_hr_snapshot_that_records_the_termination_within_the_window(hr_offset, agrees):
    day = dt.date(2026, 3, 1)
    e = ev.HrEvent("a1", "dismissal", "E100", dt.datetime(2026, 3, 1, 9, tzinfo=UTC),
                   dt.datetime(2026, 3, 1, 9, 5, tzinfo=UTC), "workday", "a1.json", 1, "x")
    hr = {"status": "terminated", "notice_date": None, "termination_date": day + dt.timedelta(days=hr_offset)}
    ok, basis = urgent.agreement(e, hr, dt.date(2026, 3, 2), WINDOW)
    assert ok is agrees, basis
    assert urgent.agreement(e, hr, dt.date(2026, 3, 2))[0] is (hr_offset == 0)  # no window: the day itself
