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
