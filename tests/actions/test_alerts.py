"""Alerts from the published tables (vigil.actions.alerts, docs/alerts.md): which rows alert, once.

* The rules, with their boundaries, on crafted publish tables built with the real column types of
  the demo's publish schema, on DuckDB and PostgreSQL (plus a complaint free-text column that
  must never be copied).
* The demo nights replayed (dbt for 03-03 and 03-04 on a copy of the session's demo warehouse,
  then the last night as built): a tier change gives exactly one alert, a complainant who stays
  high is not re-alerted, a rerun sends nothing, the ledger on PostgreSQL.
* The ledger on DuckDB and alerts.jsonl byte-identical across reruns.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from fixtures.nights import TEST_KEY
from vigil.actions.alerts import Alert, alerts_path, derive_alerts, dispatch_alerts
from vigil.store.warehouse import Warehouse

D = dt.date(2026, 3, 6)  # the demo's last night (tests/fixtures/demo.py: DEMO_START + 4)
NARRATIVE = ("I, Carol Canary-0001 (CANARY-NID-0001, +44 7700 900001), was charged twice and nobody "
             "called me back")


@pytest.fixture(scope="module")
def demo(demo_warehouse):
    assert demo_warehouse.last == D
    return demo_warehouse


def _copy(demo, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo.settings.warehouse, target)
    return str(target)


def _ledger(url: str) -> list[dict]:
    wh = Warehouse.open(url)
    with wh.connection() as con:
        cols = ("alert_id", "kind", "subject_id", "run_date", "status", "collapsed_into", "payload")
        rows = wh.fetchall(con, f"SELECT {', '.join(cols)} FROM audit.alerts_sent ORDER BY alert_id")
    return [dict(zip(cols, r)) for r in rows]


# --------------------------------------------------------------------------- crafted publish tables

PUBLISH_TABLES = ("pub_complainant_tier_changes", "pub_complainant_tiers", "pub_departure_risk_changes",
                  "pub_departure_risk", "pub_post_termination_logins", "pub_access_exceptions",
                  "pub_complaint_surges", "pub_complaint_deadlines")
EXTRA_TEXT_COLUMN = {"pub_complaint_deadlines", "pub_complainant_tier_changes", "pub_complaint_surges"}


def _column_types(demo) -> dict[str, list[tuple[str, str]]]:
    rows = demo.query(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'publish' "
        "ORDER BY table_name, ordinal_position")
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        out.setdefault(table, []).append((column, dtype))
    return out


def _crafted_rows() -> dict[str, list[dict]]:
    prev = D - dt.timedelta(days=1)
    common = dict(policy_version="2026.11-1", as_of_date=D)
    ct = dict(rule_id="CT-01", **common)
    dr = dict(rule_id="DR-01", **common)

    def tier_change(cid, before, after, direction, as_of=D):
        return dict(alert_key=f"CT-01:{cid}:{as_of}", complainant_id=cid, previous_tier=before, current_tier=after,
                    direction=direction, previous_points=1, current_points=6, is_tiered=True,
                    recommended_handling="Periodic call-back", previous_as_of_date=as_of - dt.timedelta(days=1),
                    complaint_text=NARRATIVE, **(ct | {"as_of_date": as_of}))

    def tiers(cid, tier):
        return dict(review_key=f"CT-01:{cid}", complainant_id=cid, client_id=f"CL-{cid}", tier=tier,
                    total_points=6, handling_group="dedicated handling group",
                    recommended_handling="Periodic call-back", contact_every_days=7, legal_linkage=True, **ct)

    def risk_change(eid, before, after, direction, active=True):
        return dict(alert_key=f"DR-01:{eid}:{D}", employee_id=eid, department="Payments", position="Clerk",
                    previous_tier=before, current_tier=after, direction=direction, previous_score=2,
                    current_score=7, is_active_employee=active, previous_as_of_date=prev, **dr)

    def risk(eid, tier, n_clients, privileged):
        return dict(review_key=f"DR-01:{eid}", employee_id=eid, tier=tier, score=7, n_signals=3,
                    n_clients=n_clients, has_privileged_access=privileged, **dr)

    def login(n, first_reported, is_new):
        at = dt.datetime.combine(first_reported, dt.time(9, 0), tzinfo=dt.timezone.utc)
        return dict(alert_key=f"AL-03:AD:acc{n}:{at}", employee_id=f"E-LOGIN-{n}", system="AD",
                    account_id=f"acc{n}", login_at=at, login_date=first_reported, termination_date=D - dt.timedelta(days=30),
                    days_after_termination=3, outcome="success", source="login_events",
                    first_reported_on=first_reported, is_new=is_new, account_status="enabled", priority="P1",
                    rule_id="AL-03", **common)

    def handover(client, rm, kind="handover_overdue", due=dt.date(2026, 2, 20)):
        return dict(exception_id=f"AL-09:{client}:{rm}", rule_id="AL-09", exception_kind=kind, priority="P2",
                    employee_id=rm, client_id=client, event_date=due - dt.timedelta(days=7), due_date=due,
                    days_overdue=(D - due).days, detail="no new RM", **common)

    def deadline(cid, status, breached):
        return dict(alert_key=f"CH-01:{cid}", complaint_id=cid, complainant_id="P-X", client_id=None,
                    channel="phone", category="fees", branch_id="B001", status="open",
                    received_date=D - dt.timedelta(days=40), deadline_date=D - dt.timedelta(days=25),
                    deadline_status=status, is_breached=breached, is_new_breach=False, days_past_deadline=25,
                    is_externally_escalated=False, names_employee=False, insider_link=False,
                    priority={"open_past_deadline": "P1", "resolved_late": "P2"}.get(status, "P3"),
                    rule_id="CH-01", complaint_text=NARRATIVE, **common)

    return {
        "pub_complainant_tier_changes": [
            tier_change("P-UP-MED", "low", "medium", "up"),
            tier_change("P-UP-HIGH", "medium", "high", "up"),
            tier_change("P-NEW-HIGH", None, "high", "up"),
            tier_change("P-DOWN", "high", "medium", "down"),
            tier_change("P-STALE", "medium", "high", "up", as_of=prev),  # a row of another night
        ],
        "pub_complainant_tiers": [tiers("P-UP-MED", "medium"), tiers("P-UP-HIGH", "high"),
                                  tiers("P-NEW-HIGH", "high"), tiers("P-DOWN", "medium"),
                                  tiers("P-STAYS-HIGH", "high")],
        "pub_departure_risk_changes": [
            risk_change("E-ONE-CLIENT", "medium", "high", "up"),
            risk_change("E-PRIV", "low", "high", "up"),
            risk_change("E-NO-IMPACT", "medium", "high", "up"),
            risk_change("E-NULL-CLIENTS", "medium", "high", "up"),
            risk_change("E-TO-MEDIUM", "low", "medium", "up"),
            risk_change("E-INACTIVE", "medium", "high", "up", active=False),
            risk_change("E-DOWN", "high", "medium", "down"),
        ],
        "pub_departure_risk": [
            risk("E-ONE-CLIENT", "high", 1, False), risk("E-PRIV", "high", 0, True),
            risk("E-NO-IMPACT", "high", 0, False), risk("E-NULL-CLIENTS", "high", None, False),
            risk("E-TO-MEDIUM", "medium", 5, True), risk("E-INACTIVE", "high", 3, True),
            risk("E-DOWN", "medium", 4, True), risk("E-STAYS-HIGH", "high", 9, True),
        ],
        "pub_post_termination_logins": [
            login(1, D, True), login(2, D - dt.timedelta(days=6), False),
            login(3, D - dt.timedelta(days=7), False),
        ],
        "pub_access_exceptions": [
            handover("CL-A", "E-RM1"), handover("CL-B", "E-RM1"), handover("CL-C", "E-RM2"),
            handover("CL-D", "E-RM3", kind="handover_late"),
            dict(exception_id="AL-04:AD:orphan1", rule_id="AL-04", exception_kind="orphan_account", priority="P1",
                 system="AD", account_id="orphan1", **common),
        ],
        "pub_complaint_surges": [
            dict(alert_key=f"CH-02:B003:fees:{D}", branch_id="B003", category="fees", surge_date=D, n_complaints=5,
                 baseline_total=0, baseline_days=28, baseline_daily_mean=0, baseline_ratio=None, is_new=True,
                 rule_id="CH-02", complaint_text=NARRATIVE, **common),
        ],
        "pub_complaint_deadlines": [
            deadline("K-PAST", "open_past_deadline", True), deadline("K-WITHIN", "open_within_deadline", False),
            deadline("K-LATE", "resolved_late", True),
        ],
    }


def _pg_type(dtype: str) -> str:
    return {"VARCHAR": "text", "DOUBLE": "double precision"}.get(dtype, dtype)


def _craft(url: str, types: dict, schema: str = "scratch") -> None:
    wh = Warehouse.open(url)
    pg = url.startswith("postgresql")
    rows_by_table = _crafted_rows()
    with wh.transaction() as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in PUBLISH_TABLES:
            cols = list(types[table]) + ([("complaint_text", "VARCHAR")] if table in EXTRA_TEXT_COLUMN else [])
            ddl = ", ".join(f"{c} {_pg_type(t) if pg else t}" for c, t in cols)
            con.execute(f"CREATE TABLE {schema}.{table} ({ddl})")
            names = [c for c, _ in cols]
            for row in rows_by_table[table]:
                unknown = set(row) - set(names)
                assert not unknown, (table, unknown)
                con.execute(f"INSERT INTO {schema}.{table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                            tuple(row.get(c) for c in names))


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_rules_and_their_boundaries_on_both_engines(engine, demo, tmp_path, request):
    url = str(tmp_path / "crafted.duckdb") if engine == "duckdb" else request.getfixturevalue("pg_url")
    _craft(url, _column_types(demo))
    alerts = derive_alerts(url, D, "run-1", schema="scratch")
    by_kind: dict[str, list[Alert]] = {}
    for a in alerts:
        by_kind.setdefault(a.kind, []).append(a)

    # complainants moving up (into medium or high, from a tier or from nothing) alert; down, or
    # another night's row, do not; a complainant who stays high is not in the changes table at all
    tier_up = {a.subject_id: a for a in by_kind["complainant_tier_up"]}
    assert set(tier_up) == {"P-UP-MED", "P-UP-HIGH", "P-NEW-HIGH"}
    assert tier_up["P-UP-HIGH"].severity == "high" and tier_up["P-UP-MED"].severity == "medium"
    high = tier_up["P-UP-HIGH"].facts
    assert high["recommended_handling"] == "Periodic call-back" and high["handling_group"] == "dedicated handling group"
    assert high["contact_every_days"] == 7 and high["legal_linkage"] is True and high["client_id"] == "CL-P-UP-HIGH"
    assert tier_up["P-UP-HIGH"].subject_type == "complainant" and tier_up["P-UP-HIGH"].rule_id == "CT-01"

    # departure risk: into high, active, with >= 1 client or privileged access (n_clients 0 / null
    # without privileges does not alert, nor does medium, an inactive employee or a move down)
    assert {a.subject_id for a in by_kind["departure_risk_high"]} == {"E-ONE-CLIENT", "E-PRIV"}
    one = next(a for a in by_kind["departure_risk_high"] if a.subject_id == "E-ONE-CLIENT")
    assert one.facts["n_clients"] == 1 and one.facts["has_privileged_access"] is False and one.facts["current_score"] == 7

    # logins first reported within the last 7 nights (D-6 yes, D-7 no)
    assert {a.subject_id for a in by_kind["post_termination_login"]} == {"E-LOGIN-1", "E-LOGIN-2"}
    assert all(a.severity == "critical" for a in by_kind["post_termination_login"])  # P1: account still enabled

    # one handover alert per departed RM and due date, listing the clients; late handovers do not alert
    handovers = {a.subject_id: a for a in by_kind["handover_overdue"]}
    assert set(handovers) == {"E-RM1", "E-RM2"}
    assert handovers["E-RM1"].facts["client_ids"] == ["CL-A", "CL-B"] and handovers["E-RM1"].facts["n_clients"] == 2
    assert handovers["E-RM1"].facts["days_overdue"] == (D - dt.date(2026, 2, 20)).days

    assert [a.subject_id for a in by_kind["complaint_surge"]] == ["B003"]
    assert by_kind["complaint_surge"][0].facts["baseline_ratio"] is None  # zero baseline
    assert [a.subject_id for a in by_kind["complaint_deadline_breach"]] == ["K-PAST"]
    assert set(by_kind) == {"complainant_tier_up", "departure_risk_high", "post_termination_login",
                            "handover_overdue", "complaint_surge", "complaint_deadline_breach"}

    # the complaint's free text (a column next to the facts) is never copied
    text = json.dumps([a.to_dict() for a in alerts], ensure_ascii=False)
    for fragment in (NARRATIVE, "charged twice", "CANARY-NID-0001", "Canary-0001", "7700 900001"):
        assert fragment not in text
    # deterministic: derived again by another run, the same ids; the run id is carried
    again = derive_alerts(url, D, "run-2", schema="scratch")
    assert [a.alert_id for a in again] == [a.alert_id for a in alerts]
    assert {a.run_id for a in again} == {"run-2"} and {a.run_date for a in again} == {D.isoformat()}
    # a night the tables do not describe derives nothing (e.g. a held night: publish is yesterday's)
    assert derive_alerts(url, D + dt.timedelta(days=1), "run-3", schema="scratch") == []
    if engine == "postgres":  # the same rows on DuckDB give the same alerts: moving engines re-alerts nothing
        duck = str(tmp_path / "same.duckdb")
        _craft(duck, _column_types(demo))
        assert [a.to_dict() for a in derive_alerts(duck, D, "run-2", schema="scratch")] == \
            [a.to_dict() for a in again]


def test_the_next_night_keeps_ids_of_events_that_persist(demo, tmp_path):
    """A handover still overdue a night later (days_overdue grew) is the same alert; a new
    client in the same RM's overdue book is not a new alert (same RM, same due date)."""
    url = str(tmp_path / "crafted.duckdb")
    _craft(url, _column_types(demo))
    first = {a.subject_id: a for a in derive_alerts(url, D, "r1", schema="scratch") if a.kind == "handover_overdue"}
    con = duckdb.connect(url)
    con.execute("UPDATE scratch.pub_access_exceptions SET as_of_date = as_of_date + 1, days_overdue = days_overdue + 1")
    con.execute("UPDATE scratch.pub_access_exceptions SET due_date = DATE '2026-02-21' WHERE employee_id = 'E-RM2'")
    con.close()
    second = {a.subject_id: a for a in derive_alerts(url, D + dt.timedelta(days=1), "r2", schema="scratch")
              if a.kind == "handover_overdue"}
    assert second["E-RM1"].alert_id == first["E-RM1"].alert_id
    assert second["E-RM1"].facts["days_overdue"] == first["E-RM1"].facts["days_overdue"] + 1
    assert second["E-RM2"].alert_id != first["E-RM2"].alert_id  # another due date: another event


# --------------------------------------------------------------------------- the demo's nights


def _replay(demo, url: str, day: dt.date, out: Path) -> None:
    """Rebuild the publish schema of an earlier demo night (dbt for that run date, then publish)."""
    from vigil.config import Settings
    from vigil.pipeline import build_models
    from vigil.store.publish import publish

    s = Settings(landing=str(demo.landing), warehouse=url, out=out, mode="production",
                 pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB")
    build_models(s, day)
    publish(url)


def _tier_moves(demo, day: dt.date) -> dict[str, tuple]:
    """(previous, current) tier of every complainant whose tier moved up on `day`, from the history
    slices (absent = low), computed here rather than read from the published changes."""
    rows = demo.query(
        "SELECT complainant_id, as_of_date, tier FROM marts.fct_complainant_risk_tier_history "
        "WHERE as_of_date IN (?, ?)", (day - dt.timedelta(days=1), day))
    before = {c: t for c, d, t in rows if d < day}
    after = {c: t for c, d, t in rows if d == day}
    rank = {"low": 0, "medium": 1, "high": 2}
    return {c: (before.get(c), t) for c, t in after.items() if rank[t] > rank[before.get(c) or "low"]}


def _stays_high(demo, day: dt.date) -> set[str]:
    rows = demo.query("SELECT complainant_id FROM marts.fct_complainant_risk_tier_history "
                      "WHERE as_of_date = ? AND tier = 'high' INTERSECT SELECT complainant_id FROM "
                      "marts.fct_complainant_risk_tier_history WHERE as_of_date = ? AND tier = 'high'",
                      (day - dt.timedelta(days=1), day))
    return {r[0] for r in rows}


@pytest.mark.postgres
@pytest.mark.slow
def test_demo_nights_alert_each_change_once_with_the_ledger_on_postgres(demo, tmp_path, pg_url):
    nights = [dt.date(2026, 3, 3), dt.date(2026, 3, 4)]
    replay = _copy(demo, tmp_path / "replay.duckdb")
    out = tmp_path / "out"
    sent: dict[dt.date, list[Alert]] = {}
    for day in nights + [D]:
        source = replay if day != D else demo.settings.warehouse  # the last night: as the fixture built it
        if day != D:
            _replay(demo, replay, day, tmp_path / "replay-out")
        alerts = derive_alerts(source, day, f"run-{day}")
        result = dispatch_alerts(pg_url, alerts, run_date=day, run_id=f"run-{day}", out=out, config_path=None)
        assert result["emails"] == result["webhook_messages"] == 0  # no configuration: demo mode
        sent[day] = [a for a in alerts if a.alert_id in {r["alert_id"] for r in _ledger(pg_url)
                                                          if r["run_date"] == day}]
        # a tier change -> exactly one alert for that complainant, on that night, and none for others
        moves = _tier_moves(demo, day)
        tier_alerts = [a for a in sent[day] if a.kind == "complainant_tier_up"]
        assert sorted(a.subject_id for a in tier_alerts) == sorted(moves), day
        for a in tier_alerts:
            assert (a.facts["previous_tier"], a.facts["current_tier"]) == moves[a.subject_id]
        # a complainant who stays high is not alerted again
        assert not {a.subject_id for a in tier_alerts} & _stays_high(demo, day)
        # a rerun of the same night sends nothing new, and alerts.jsonl stays the same bytes
        before = alerts_path(out, day).read_bytes()
        rerun = dispatch_alerts(pg_url, derive_alerts(source, day, f"rerun-{day}"), run_date=day,
                                run_id=f"rerun-{day}", out=out, config_path=None)
        assert rerun["new"] == 0 and rerun["recorded"] == 0 and rerun["already_sent"] == len(alerts)
        assert alerts_path(out, day).read_bytes() == before

    # the demo moves one complainant up on 03-03 (into high) and one on 03-04 (into medium); the
    # first stays high on 03-04 and is not alerted again
    assert len(_tier_moves(demo, nights[0])) == 1 and len(_tier_moves(demo, nights[1])) == 1
    first = next(iter(_tier_moves(demo, nights[0])))
    assert first in _stays_high(demo, nights[1])
    # what persists (the overdue handover, the open breaches) was alerted on the first night only
    ids = [a.alert_id for day in sent for a in sent[day]]
    assert len(ids) == len(set(ids))
    persisting = {a.alert_id for a in derive_alerts(demo.settings.warehouse, D, "x") if a.kind == "handover_overdue"}
    assert persisting and persisting <= {a.alert_id for a in sent[nights[0]]}
    # the last night: the planted surge and the new post-termination login are new
    last = {(a.kind, a.subject_id) for a in sent[D]}
    surge = demo.cases("complaint_surge")[0]
    assert ("complaint_surge", surge["branch_id"]) in last
    new_logins = demo.rows(f"SELECT employee_id FROM publish.pub_post_termination_logins WHERE is_new")
    assert new_logins and {("post_termination_login", r["employee_id"]) for r in new_logins} <= last
    # every night's jsonl holds exactly the alerts first recorded that night
    for day in sent:
        lines = [json.loads(x) for x in alerts_path(out, day).read_text().splitlines()]
        assert sorted(x["alert_id"] for x in lines) == sorted(a.alert_id for a in sent[day])
        assert all(x["run_date"] == day.isoformat() and x["run_id"] == f"run-{day}" for x in lines)


def test_ledger_on_duckdb_rerun_sends_nothing_and_jsonl_is_stable(demo, tmp_path):
    url = _copy(demo, tmp_path / "wh.duckdb")
    out = tmp_path / "out"
    alerts = derive_alerts(url, D, "run-a")
    assert alerts
    first = dispatch_alerts(url, alerts, run_date=D, run_id="run-a", out=out, config_path=None)
    assert first["new"] == first["recorded"] == len(alerts) and first["already_sent"] == 0
    ledger = _ledger(url)
    assert sorted(r["alert_id"] for r in ledger) == sorted(a.alert_id for a in alerts)
    assert {r["status"] for r in ledger} == {"recorded"}  # demo mode: recorded, nothing owed
    assert all(json.loads(r["payload"]) == a.to_dict()
               for r, a in zip(ledger, sorted(alerts, key=lambda a: a.alert_id)))
    path = alerts_path(out, D)
    first_bytes = path.read_bytes()
    # rerun: new run id, same alerts -> nothing new; the file is byte-identical
    second = dispatch_alerts(url, derive_alerts(url, D, "run-b"), run_date=D, run_id="run-b", out=out)
    assert second["new"] == 0 and second["already_sent"] == len(alerts)
    assert path.read_bytes() == first_bytes
    # the same alert handed in twice is one alert
    third = dispatch_alerts(url, alerts + alerts, run_date=D, run_id="run-c", out=out)
    assert third["alerts"] == len(alerts) and third["new"] == 0
    # a later pipeline alert on the same night joins the night's file; nothing else changes
    from vigil.actions.alerts import dead_letter_alert

    extra = dead_letter_alert(["T-1"], D, "run-c", {"dead_lettered": 1})
    fourth = dispatch_alerts(url, [extra], run_date=D, run_id="run-c", out=out)
    assert fourth["new"] == 1
    lines = path.read_text().splitlines()
    assert len(lines) == len(alerts) + 1 and set(first_bytes.decode().splitlines()) <= set(lines)
