"""Write → audit → publish on the demo warehouse: a failed gate or a tripped breaker leaves the
published tables exactly as the night before, makes no ticket, and sends only the alert saying why."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from conftest import PG_ADMIN_DSN, approve_held_night
from vigil import pipeline
from vigil.breakers import evaluate
from vigil.cli import main as vigil
from vigil.pipeline import run_nightly
from vigil.warehouse import Warehouse


@pytest.fixture
def night(demo_warehouse, tmp_path):
    """A private copy of the demo warehouse and a landing folder for the night after its last."""
    return night_after_the_demo(demo_warehouse, tmp_path)


def night_after_the_demo(demo_warehouse, tmp_path):
    """(settings on a copy of the demo warehouse, the next day), the next day's landing a copy of the
    demo's last night, with yesterday's files too: the stale check compares with them."""
    src = demo_warehouse.settings
    warehouse = tmp_path / "wh.duckdb"
    shutil.copy(src.warehouse, warehouse)
    day = demo_warehouse.last + dt.timedelta(days=1)
    landing = tmp_path / "landing"
    for feed in ("hr", "iam", "crm", "complaints"):
        for d in (demo_warehouse.last, day):
            shutil.copytree(demo_warehouse.landing / feed / demo_warehouse.last.isoformat(), landing / feed / d.isoformat())
        (landing / feed / day.isoformat() / "_manifest.json").unlink(missing_ok=True)
    s = src.with_(warehouse=str(warehouse), landing=str(landing), out=tmp_path / "out")
    return s, day


def roster_rows(s, day) -> tuple[list[str], list[list[str]], Path]:
    path = Path(s.landing) / "hr" / day.isoformat() / "employees.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:], path


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows])


def touch_every_feed(s, day, *, except_hr: bool = False) -> None:
    """Make tonight's snapshots differ from yesterday's bytes with the same facts (rows reversed), as a
    quiet but real night's extract would."""
    from vigil.transforms.contract import TABLES

    for t in TABLES:
        if not t.stale_is_suspicious or (except_hr and t.feed == "hr"):
            continue
        p = Path(s.landing) / t.feed / day.isoformat() / f"{t.file_stem}.csv"
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        write_rows(p, rows[0], rows[1:][::-1])


def published(s) -> dict:
    return Warehouse.open(s.warehouse).table_checksums(("publish",))


def alerts_of(s, day) -> list[dict]:
    path = Path(s.out) / "alerts" / day.isoformat() / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def tickets_dir(s, day) -> Path:
    return Path(s.out) / "tickets" / day.isoformat()


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
    decision = evaluate(s.warehouse, day)
    for key in ("yesterday_active", "today_active", "planned_revocations", "revocation_threshold"):
        assert alert["facts"][key] == decision.to_dict()[key], key
    assert decision.today_active < 0.8 * decision.yesterday_active

    args = ["--warehouse", s.warehouse, "--landing", s.landing, "--out", str(s.out)]
    plan_before = Warehouse.open(s.warehouse).table_checksums(("publish", "tickets", "audit"))
    assert vigil(["plan", "--date", day.isoformat(), "--json", *args]) == 3  # a breaker would hold it
    assert Warehouse.open(s.warehouse).table_checksums(("publish", "tickets", "audit")) == plan_before  # no side effects
    from vigil.breakers import plan

    planned, held = plan(s.warehouse, day)
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


def test_a_stale_roster_holds_the_night(night):
    """yesterday's roster re-sent byte for byte (a stuck extract): held, never treated as a quiet night."""
    s, day = night
    touch_every_feed(s, day, except_hr=True)
    summary = run_nightly(s, day)
    assert summary.status == "held" and "hr/employees is byte-identical" in summary.error
    assert "iam/accounts" not in summary.error


@pytest.mark.postgres
def test_publish_gate_fails_a_violated_expectation_and_passes_a_clean_table_on_both_engines(demo_warehouse, pg_url, tmp_path):
    import psycopg

    from vigil.quality import run_suites

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
