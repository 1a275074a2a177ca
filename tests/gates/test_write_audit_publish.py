"""Write → audit → publish on the demo warehouse: a failed gate or a tripped breaker leaves the
published tables exactly as the night before, makes no ticket, and sends only the alert saying why."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from fixtures.demo import (alerts_of, approve_held_night, night_after_the_demo, published, roster_rows, tickets_dir,
                           touch_every_feed, write_rows)

from fixtures.postgres import PG_ADMIN_DSN
from vigil import pipeline
from vigil.actions.tickets.store import plan_new_tickets
from vigil.gates.breakers import evaluate
from vigil.cli import main as vigil
from vigil.pipeline import run_nightly
from vigil.store.warehouse import Warehouse


@pytest.fixture
def night(demo_warehouse, tmp_path):
    """A private copy of the demo warehouse and a landing folder for the night after its last."""
    return night_after_the_demo(demo_warehouse, tmp_path)


def test_truncated_roster_fails_the_gate_publishes_nothing_and_alerts(night):
    """HR sends 40% of yesterday's actives: zero tickets, one data-quality alert, publish unchanged."""
    s, day = night
    header, rows, path = roster_rows(s, day)
    status = header.index("status")
    active = [r for r in rows if r[status] != "terminated"]
    keep = active[: int(len(active) * 0.4)]
    write_rows(path, header, keep)
    before = published(s)
    raw_before = Warehouse.open(s.warehouse).table_checksums(("raw",))
    summary = run_nightly(s, day)
    assert summary.status == "failed" and "raw.hr__employees.critical" in summary.error
    assert published(s) == before
    # issue 19 item 8: the gate failed after the load; the night's partitions left raw again
    assert Warehouse.open(s.warehouse).table_checksums(("raw",)) == raw_before
    assert not tickets_dir(s, day).exists()
    alerts = alerts_of(s, day)
    assert [a["kind"] for a in alerts] == ["data_quality_failure"]
    facts = json.dumps(alerts[0]["facts"])
    assert "raw.hr__employees.critical" in facts and "row_count" in facts


def test_mass_termination_holds_until_approved_and_tickets_equal_the_plan(night):
    """A readable roster that terminates a quarter of the bank: the breaker holds, nothing is published,
    the alert carries the counts; `vigil plan` shows the held plan; after `vigil approve` the rerun
    publishes and creates exactly the planned tickets."""
    s, day = night
    header, rows, path = roster_rows(s, day)
    col = {name: i for i, name in enumerate(header)}
    active = [r for r in rows if r[col["status"]] in ("active", "notice", "leave")]
    for r in active[: len(active) // 4]:
        r[col["status"]], r[col["termination_date"]], r[col["termination_reason"]] = "terminated", day.isoformat(), "dismissal"
    write_rows(path, header, rows)
    touch_every_feed(s, day, except_hr=True)
    before = published(s)

    summary = run_nightly(s, day)
    assert summary.status == "held", summary.error
    assert "HOLD" in summary.error and "vigil approve" in summary.error
    assert published(s) == before and not tickets_dir(s, day).exists()
    [alert] = alerts_of(s, day)
    assert alert["kind"] == "breaker_hold"
    decision = evaluate(s.warehouse, day, planner=plan_new_tickets)
    for key in ("yesterday_active", "today_active", "planned_revocations", "revocation_threshold"):
        assert alert["facts"][key] == decision.to_dict()[key], key
    assert decision.today_active < 0.8 * decision.yesterday_active

    args = ["--warehouse", s.warehouse, "--landing", s.landing, "--out", str(s.out)]
    plan_before = Warehouse.open(s.warehouse).table_checksums(("publish", "tickets", "audit"))
    assert vigil(["plan", "--date", day.isoformat(), "--json", *args]) == 3  # a breaker would hold it
    assert Warehouse.open(s.warehouse).table_checksums(("publish", "tickets", "audit")) == plan_before  # no side effects
    from vigil.gates.breakers import plan

    planned, held = plan(s.warehouse, day, planner=plan_new_tickets)
    assert held.status == "hold" and len(planned) == held.planned_revocations

    assert vigil(["approve", "--date", day.isoformat(), "--reason", "restructuring announced", "--by", "C. Officer",
                  *args]) == 0
    assert vigil(["plan", "--date", day.isoformat(), *args]) == 0  # released: the rerun will publish it
    summary = run_nightly(s, day)
    assert summary.ok, summary.error
    assert published(s) != before
    issued = [json.loads(line) for line in (tickets_dir(s, day) / "revocations.jsonl").read_text().splitlines()]
    assert sorted(t["ticket_id"] for t in issued) == sorted(t["ticket_id"] for t in planned)


def test_a_publish_gate_failure_keeps_last_nights_tables(night, monkeypatch):
    """dbt builds a wrong number that its own tests do not catch (a share KPI above 100%): the publish
    gate stops the night before publish."""
    s, day = night
    touch_every_feed(s, day)
    real_build = pipeline.build_models

    def build_then_corrupt(settings, run_date, **options):
        out = real_build(settings, run_date, **options)
        with Warehouse.open(settings.warehouse).transaction() as con:
            con.execute("UPDATE publish_candidate.pub_kpi_scorecard SET value = 1.5 WHERE unit = 'share'")
        return out

    monkeypatch.setattr(pipeline, "build_models", build_then_corrupt)
    before = published(s)
    summary = run_nightly(s, day)
    assert summary.status == "failed" and "publish.pub_kpi_scorecard.critical" in summary.error
    assert [st.name for st in summary.steps][-1] == "dbt build"
    assert published(s) == before and not tickets_dir(s, day).exists()
    [alert] = alerts_of(s, day)
    assert alert["kind"] == "data_quality_failure" and "range:share_kpis_in_0..1" in json.dumps(alert["facts"])


def write_manifest(s, day, feed: str, **fields) -> None:
    """Tonight's manifest of `feed`, listing every delivered file, with the staleness evidence given."""
    folder = Path(s.landing) / feed / day.isoformat()
    files = {p.name: {} for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".parquet")}
    (folder / "_manifest.json").write_text(json.dumps({"feed": feed, "date": day.isoformat(), "files": files} | fields))


def audit_events(s, day) -> list[tuple[str, dict]]:
    with Warehouse.open(s.warehouse).connection() as con:
        rows = con.execute("SELECT event, details FROM audit.audit_log WHERE run_date = ? AND event IN "
                           "('breaker_hold', 'breaker_released', 'published', 'alerts_held') ORDER BY occurred_at",
                           [day]).fetchall()
    return [(e, json.loads(d)) for e, d in rows]


def test_a_stuck_roster_holds_the_night(night):
    """yesterday's roster re-sent byte for byte, and its manifest says it is as of yesterday (a stuck
    extract): the whole night is held."""
    s, day = night
    touch_every_feed(s, day, except_hr=True)
    write_manifest(s, day, "hr", as_of=(day - dt.timedelta(days=1)).isoformat())
    before = published(s)
    summary = run_nightly(s, day)
    assert summary.status == "held" and "hr/employees is a stuck extract" in summary.error
    assert "as of" in summary.error and "iam/accounts" not in summary.error
    assert published(s) == before and not tickets_dir(s, day).exists()


def without_the_demos_ticket_backlog(monkeypatch) -> None:
    """The demo fixture issues no tickets (DEMO_ACTIONS), so the first night after it plans the whole
    backlog of leavers and trips the revocation breaker (tested on its own above): lift its floor."""
    import vigil.gates.breakers

    monkeypatch.setattr(vigil.gates.breakers, "REVOCATION_FLOOR", 1000)


def test_a_quiet_roster_is_a_warning_not_a_hold(night, monkeypatch):
    """The same roster bytes with no evidence of a stuck extract (one identical night for a
    population far below the size where that is unlikely): published, with a warning."""
    s, day = night
    without_the_demos_ticket_backlog(monkeypatch)
    touch_every_feed(s, day, except_hr=True)
    summary = run_nightly(s, day, actions=False)
    assert summary.status == "published", summary.error
    assert any("hr/employees is byte-identical" in w and "quiet day" in w for w in summary.warnings)


@pytest.mark.slow
def test_a_stuck_client_book_holds_the_client_alerts_never_a_leavers_revocation(night, monkeypatch):
    """Issue 18: the CRM client book re-sent (its manifest's extraction time did not advance) on the
    night a privileged employee leaves. The night publishes and the leaver's revocation goes out;
    only the CRM-derived alerts wait, and the audit log and `vigil plan` say exactly that. After
    the approval the rerun sends the held alerts and nothing else changes."""
    s, day = night
    without_the_demos_ticket_backlog(monkeypatch)
    header, rows, path = roster_rows(s, day)
    col = {name: i for i, name in enumerate(header)}
    with open(Path(s.landing) / "iam" / day.isoformat() / "accounts.csv", newline="", encoding="utf-8") as fh:
        accounts = list(csv.DictReader(fh))
    privileged = {a["employee_id"] for a in accounts
                  if a["status"] == "enabled" and a["is_privileged"].lower() in ("true", "1", "t")}
    leaver = next(r for r in rows if r[col["status"]] == "active" and r[col["employee_id"]] in privileged)
    leaver[col["status"]], leaver[col["termination_date"]] = "terminated", day.isoformat()
    leaver[col["termination_reason"]] = "dismissal"
    write_rows(path, header, rows)
    touch_every_feed(s, day)
    crm = Path(s.landing) / "crm" / day.isoformat() / "clients.csv"
    shutil.copy(Path(s.landing) / "crm" / (day - dt.timedelta(days=1)).isoformat() / "clients.csv", crm)
    stuck_at = f"{day.isoformat()}T01:00:00+00:00"
    write_manifest(s, day, "crm", extracted_at=stuck_at)
    yesterday = day - dt.timedelta(days=1)
    with Warehouse.open(s.warehouse).transaction() as con:  # what yesterday's load recorded from its manifest
        con.execute("UPDATE raw._vigil_loads SET extracted_at = ? WHERE feed = 'crm' AND feed_date = ?",
                    [stuck_at, yesterday])

    summary = run_nightly(s, day)
    assert summary.status == "published", summary.error
    issued = [json.loads(line) for line in (tickets_dir(s, day) / "revocations.jsonl").read_text().splitlines()]
    assert leaver[col["employee_id"]] in {t["employee_id"] for t in issued}
    sent = {a["kind"] for a in alerts_of(s, day)}
    assert "breaker_hold" in sent and not sent & {"handover_overdue", "departure_risk_high"}
    events = audit_events(s, day)
    hold = next(d for e, d in events if e == "breaker_hold")
    assert hold["held"] == ["alert:departure_risk_high", "alert:handover_overdue"]
    assert hold["goes_out"] == ["publish", "close_tickets", "revocation_tickets", "alerts"]
    assert [t["breaker"] for t in hold["trips"]] == ["stale crm/clients"]
    assert next(d for e, d in events if e == "published")["held"] == hold["held"]
    held_alerts = [d for e, d in events if e == "alerts_held"]
    assert set().union(*(d["alerts"] for d in held_alerts)) <= {"handover_overdue", "departure_risk_high"}
    assert any("HELD until approved" in w for w in summary.warnings)

    args = ["--warehouse", s.warehouse, "--landing", s.landing, "--out", str(s.out)]
    assert vigil(["approve", "--date", day.isoformat(), "--reason", "CRM migration freeze", "--by", "C. Officer",
                  *args]) == 0
    tickets_before = (tickets_dir(s, day) / "revocations.jsonl").read_text()
    summary = run_nightly(s, day)
    assert summary.status == "published", summary.error
    assert (tickets_dir(s, day) / "revocations.jsonl").read_text() == tickets_before  # nothing new, nothing twice
    held_ids = {i for d in held_alerts for ids in d["alerts"].values() for i in ids}
    assert held_ids <= {a["alert_id"] for a in alerts_of(s, day)}


@pytest.mark.postgres
def test_publish_gate_fails_a_violated_expectation_and_passes_a_clean_table_on_both_engines(demo_warehouse, pg_url, tmp_path):
    import psycopg

    from vigil.gates.quality import run_suites

    rows = demo_warehouse.rows("SELECT * FROM publish.pub_kpi_scorecard")
    assert rows and any(r["unit"] == "share" for r in rows)
    duck = str(tmp_path / "wh.duckdb")
    shutil.copy(demo_warehouse.settings.warehouse, duck)
    with Warehouse.open(duck).connection() as con:
        ddl = [(c, t) for c, t in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'publish' "
            "AND table_name = 'pub_kpi_scorecard' ORDER BY ordinal_position").fetchall()]
    cols = [c for c, _ in ddl]
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute("CREATE SCHEMA publish_candidate")
        pg.execute("CREATE TABLE publish_candidate.pub_kpi_scorecard (" +
                   ", ".join(f"{c} {t.replace('DECIMAL', 'NUMERIC')}" for c, t in ddl) + ")")
        with pg.cursor() as cur:
            cur.executemany(f"INSERT INTO publish_candidate.pub_kpi_scorecard VALUES ({', '.join(['%s'] * len(cols))})",
                            [tuple(r[c] for c in cols) for r in rows])
    with Warehouse.open(duck).transaction() as con:
        con.execute("DELETE FROM publish_candidate.pub_kpi_scorecard")
        con.execute("INSERT INTO publish_candidate.pub_kpi_scorecard SELECT * FROM publish.pub_kpi_scorecard")
    for url in (duck, pg_url):
        kwargs = dict(run_date=demo_warehouse.last, out=tmp_path / "out", schema="publish_candidate", build_docs=False)
        clean = run_suites(url, "publish", ["pub_kpi_scorecard"], **kwargs)
        assert clean.ok and clean.expectations, url
        with Warehouse.open(url).transaction() as con:
            con.execute("UPDATE publish_candidate.pub_kpi_scorecard SET status = 'purple' "
                        "WHERE kpi = (SELECT min(kpi) FROM publish_candidate.pub_kpi_scorecard)")
        bad = run_suites(url, "publish", ["pub_kpi_scorecard"], **kwargs)
        assert [e.expectation for e in bad.failed_critical] == ["accepted_values:status"], url
