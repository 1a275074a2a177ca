"""Circuit breakers: hold at the threshold + 1, pass at the threshold, release only what was approved."""

from __future__ import annotations

import datetime as dt

import pytest

import vigil.breakers
from vigil.breakers import approve, decide, evaluate
from vigil.warehouse import Warehouse

D = dt.date(2026, 3, 6)
Y = D - dt.timedelta(days=1)


def plan(n: int) -> list[tuple]:
    return [("pub_leaver_access_exposure", f"E{i:04d}", "AD", f"u{i}") for i in range(n)]


@pytest.mark.parametrize(("planned", "status"), [(19, "pass"), (20, "pass"), (21, "hold")])
def test_revocation_breaker_at_five_percent_of_yesterdays_actives(planned, status):
    d = decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(planned))
    assert d.revocation_threshold == 20 and d.status == status


@pytest.mark.parametrize(("planned", "status"), [(9, "pass"), (10, "pass"), (11, "hold")])
def test_small_population_uses_the_floor_of_ten(planned, status):
    d = decide(D, today_active=6, yesterday_active=6, yesterday_date=Y, planned=plan(planned))
    assert d.revocation_threshold == 10 and d.status == status


@pytest.mark.parametrize(("today", "status"), [(81, "pass"), (80, "pass"), (79, "hold")])
def test_headcount_breaker_at_twenty_percent(today, status):
    d = decide(D, today_active=today, yesterday_active=100, yesterday_date=Y, planned=[])
    assert d.status == status
    if status == "hold":
        assert "fell 21.0% (100 on 2026-03-05 -> 79)" in d.reasons[0]


def test_first_night_has_no_headcount_baseline_but_still_caps_revocations():
    assert decide(D, today_active=50, yesterday_active=None, yesterday_date=None, planned=plan(10)).status == "pass"
    assert decide(D, today_active=50, yesterday_active=None, yesterday_date=None, planned=plan(11)).status == "hold"


def test_an_approval_releases_only_the_plan_it_saw():
    held = decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(25))
    approval = {"fingerprint": held.fingerprint, "approved_by": "A. Officer"}
    assert decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(25),
                  approval=approval).status == "released"
    assert decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(26),
                  approval=approval).status == "hold"


def _tickets(n: int) -> list[dict]:
    return [{"kind": "leaver_access", "employee_id": f"L{i}", "system": "AD", "ticket_id": f"t{i}"} for i in range(n)]


def _warehouse(tmp_path, monkeypatch, yesterday_active: int, today_active: int, planned: int) -> str:
    """Raw rosters for Y and D; the ticket plan (vigil.tickets, tested on its own) has `planned` tickets."""
    import vigil.breakers

    monkeypatch.setattr(vigil.breakers, "planned_revocations", lambda url, date, schema="publish_candidate": _tickets(planned))
    url = str(tmp_path / "wh.duckdb")
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        for date, n in ((Y, yesterday_active), (D, today_active)):
            con.execute(
                f"INSERT INTO raw.hr__employees (employee_id, status, _feed_date) "
                f"SELECT 'E' || lpad(CAST(i AS VARCHAR), 4, '0'), 'active', %s FROM range(%s) t(i)",
                (date, n),
            )
    return url


def test_truncated_roster_holds_from_the_raw_partitions(tmp_path, monkeypatch):
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=1000, today_active=400, planned=0)  # 40% of yesterday's actives
    d = evaluate(url, D)
    assert d.status == "hold" and (d.yesterday_active, d.today_active) == (1000, 400)


def test_approve_records_who_and_why_and_releases_the_night(tmp_path, monkeypatch):
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=100, today_active=100, planned=30)
    assert evaluate(url, D).status == "hold"
    with pytest.raises(ValueError, match="reason"):
        approve(url, D, reason=" ", by="A. Officer")
    released = approve(url, D, reason="year-end contract expiries, checked with HR", by="A. Officer")
    assert released.status == "released" and released.approval["approved_by"] == "A. Officer"
    import duckdb

    con = duckdb.connect(url, read_only=True)
    rows = con.execute("SELECT event, actor, run_date FROM audit.audit_log WHERE event LIKE 'breaker%'").fetchall()
    con.close()
    assert rows == [("breaker_released", "A. Officer", D)]
    with pytest.raises(ValueError, match="not held"):
        approve(url, D, reason="again", by="B")
    monkeypatch.setattr(vigil.breakers, "planned_revocations", lambda url, date, schema="publish_candidate": _tickets(31))
    assert evaluate(url, D).status == "hold"  # a different plan is not what was approved


def _ledger_row(con, feed: str, table: str, date: dt.date, *, stale: bool, extracted_at: str | None,
                rows: int = 300) -> None:
    con.execute("INSERT INTO raw._vigil_loads (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                "stale, run_id, loaded_at, extracted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'r', now(), %s)",
                (feed, table, date, f"{feed}/{date}/{table}.csv", "ab" * 32, rows, stale, extracted_at))


def test_evaluate_reads_the_staleness_evidence_from_the_load_ledger(tmp_path, monkeypatch):
    """A client book re-sent with yesterday's extraction time: held scope = CRM alerts; the roster,
    unchanged but freshly extracted, is a quiet day (a warning); approve releases exactly that."""
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=300, today_active=300, planned=1)
    with Warehouse.open(url).transaction() as con:
        for feed, table in (("crm", "clients"), ("hr", "employees")):
            _ledger_row(con, feed, table, Y, stale=False, extracted_at=f"{D}T01:00:00+00:00")
        _ledger_row(con, "crm", "clients", D, stale=True, extracted_at=f"{D}T01:00:00+00:00")
        _ledger_row(con, "hr", "employees", D, stale=True, extracted_at=f"{D + dt.timedelta(days=1)}T01:00:00+00:00")
    d = evaluate(url, D)
    assert d.status == "hold" and d.held == ["alert:departure_risk_high", "alert:handover_overdue"]
    assert [t["breaker"] for t in d.trips] == ["stale crm/clients"]
    assert "extracted_at did not advance" in d.reasons[0]
    assert len(d.warnings) == 1 and d.warnings[0].startswith("hr/employees is byte-identical")
    released = approve(url, D, reason="CRM frozen for migration weekend", by="A. Officer")
    assert released.status == "released" and released.held == []
    import duckdb

    con = duckdb.connect(url, read_only=True)
    [(details,)] = con.execute("SELECT details FROM audit.audit_log WHERE event = 'breaker_released'").fetchall()
    con.close()
    import json

    details = json.loads(details)
    assert details["released"] == d.held and details["trips"][0]["measured"]["table"] == "crm/clients"


def test_a_ledger_from_before_the_evidence_columns_is_upgraded(tmp_path):
    url = str(tmp_path / "old.duckdb")
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw._vigil_loads (feed VARCHAR NOT NULL, table_name VARCHAR NOT NULL, "
                    "feed_date DATE NOT NULL, source_file VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL, "
                    "row_count BIGINT NOT NULL, stale BOOLEAN NOT NULL, run_id VARCHAR NOT NULL, "
                    "loaded_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (feed, table_name, feed_date))")
        con.execute("INSERT INTO raw._vigil_loads VALUES ('hr', 'employees', DATE '2026-03-05', 'f', 'x', 3, false, "
                    "'r', now())")
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        wh.ensure_raw_schema(con)  # idempotent
    with wh.connection() as con:
        assert con.execute("SELECT extracted_at, source_watermark, as_of FROM raw._vigil_loads").fetchall() == [
            (None, None, None)]
