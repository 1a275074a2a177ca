"""Circuit breakers: hold at the threshold + 1, pass at the threshold, release only what was approved."""

from __future__ import annotations

import datetime as dt

import pytest

from vigil.gates.breakers import approve, decide, evaluate
from vigil.store.audit import append_audit
from vigil.store.warehouse import Warehouse

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


def drill_plan(n: int = 1) -> list[tuple]:
    """A drill's planned tickets (docs/drills.md): its synthetic leaver's ids start with DRILL-."""
    return [("pub_leaver_access_exposure", "DRILL-E20260306-01", "AD", f"drill-t{i}") for i in range(n)]


@pytest.mark.parametrize(("real", "drill", "status"), [(20, 0, "pass"), (20, 1, "pass"), (20, 3, "pass"),
                                                        (21, 0, "hold"), (21, 1, "hold"), (19, 2, "pass")])
def test_a_drills_tickets_never_count_toward_the_revocation_breaker(real, drill, status):
    # threshold 20 (5% of 400): 20 real + the drill's stays under it, 21 real trips with or without the drill
    d = decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(real) + drill_plan(drill))
    assert d.revocation_threshold == 20 and d.status == status
    assert (d.planned_revocations, d.drill_revocations) == (real, drill)


def test_an_approval_is_not_changed_by_the_drills_ticket():
    held = decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(25))
    approval = {"fingerprint": held.fingerprint, "approved_by": "A. Officer"}
    assert decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, planned=plan(25) + drill_plan(),
                  approval=approval).status == "released"


def _tickets(n: int) -> list[dict]:
    return [{"kind": "leaver_access", "employee_id": f"L{i}", "system": "AD", "ticket_id": f"t{i}"} for i in range(n)]


#: How many tickets the planner below plans (the ticket plan is tested on its own, in tests/actions).
PLANNED = {"tickets": 0}


def planner(wh, con, run_date, schema):
    return _tickets(PLANNED["tickets"])


def _warehouse(tmp_path, monkeypatch, yesterday_active: int, today_active: int, planned: int) -> str:
    """Raw rosters for Y and D; the ticket plan (vigil.actions.tickets, tested on its own) has `planned` tickets."""
    PLANNED["tickets"] = planned
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
    d = evaluate(url, D, planner=planner)
    assert d.status == "hold" and (d.yesterday_active, d.today_active) == (1000, 400)


def test_approve_records_who_and_why_and_releases_the_night(tmp_path, monkeypatch):
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=100, today_active=100, planned=30)
    assert evaluate(url, D, planner=planner).status == "hold"
    with pytest.raises(ValueError, match="reason"):
        approve(url, D, reason=" ", by="A. Officer", planner=planner)
    released = approve(url, D, reason="year-end contract expiries, checked with HR", by="A. Officer", planner=planner)
    assert released.status == "released" and released.approval["approved_by"] == "A. Officer"
    import duckdb

    con = duckdb.connect(url, read_only=True)
    rows = con.execute("SELECT event, actor, run_date FROM audit.audit_log WHERE event LIKE 'breaker%'").fetchall()
    con.close()
    assert rows == [("breaker_released", "A. Officer", D)]
    with pytest.raises(ValueError, match="not held"):
        approve(url, D, reason="again", by="B", planner=planner)
    PLANNED["tickets"] = 31
    assert evaluate(url, D, planner=planner).status == "hold"  # a different plan is not what was approved


def test_a_drills_employee_never_counts_in_the_headcounts(tmp_path, monkeypatch):
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=100, today_active=80, planned=0)  # 20.0%: at the limit
    wh = Warehouse.open(url)
    with wh.transaction() as con:  # a drill's employee in yesterday's roster (even active) is no headcount
        con.execute("INSERT INTO raw.hr__employees (employee_id, status, _feed_date) VALUES ('DRILL-E1', 'active', %s)",
                    (Y,))
    d = evaluate(url, D, planner=planner)
    assert (d.yesterday_active, d.today_active, d.status) == (100, 80, "pass")
    with wh.transaction() as con:  # one more real employee yesterday: 80 of 101 is a 20.8% drop
        con.execute("INSERT INTO raw.hr__employees (employee_id, status, _feed_date) VALUES ('E9999', 'active', %s)",
                    (Y,))
    assert evaluate(url, D, planner=planner).status == "hold"


def test_a_drills_ticket_in_the_plan_does_not_trip_the_breaker(tmp_path, monkeypatch):
    url = _warehouse(tmp_path, monkeypatch, yesterday_active=100, today_active=100, planned=10)  # floor 10: at it

    def with_drill(wh, con, run_date, schema):
        return _tickets(PLANNED["tickets"]) + [{"kind": "leaver_access", "employee_id": "DRILL-E1", "system": "AD",
                                                "ticket_id": "drill-t0"}]

    d = evaluate(url, D, planner=with_drill)
    assert (d.status, d.planned_revocations, d.drill_revocations) == ("pass", 10, 1)
    PLANNED["tickets"] = 11
    assert evaluate(url, D, planner=with_drill).status == "hold"


# ----------------------------------------------------------------------------- scope: what each breaker holds
from vigil.gates.breakers import (  # noqa: E402
    ACTIONS, CLOSE_TICKETS, PUBLISH, REVOCATION_TICKETS, identical_nights_limit, is_held, staleness,
)


def stuck(name: str = "crm/clients", **extra) -> dict:
    return {name: {"sha256": "ab" * 32, "rows": 300, "identical": True, "identical_nights": 1,
                   "identical_nights_limit": 66, "extracted_at": "2026-03-05T01:00:00+00:00",
                   "source_watermark": None, "as_of": None, "stuck": True,
                   "evidence": ["the manifest's extracted_at did not advance"]} | extra}


def quiet(name: str = "hr/employees") -> dict:
    return {name: {"sha256": "cd" * 32, "rows": 300, "identical": True, "identical_nights": 1,
                   "identical_nights_limit": 66, "extracted_at": None, "source_watermark": None, "as_of": None,
                   "stuck": False, "evidence": []}}


def night(*, stale=(), today=400, yesterday=400, planned=0, approval=None):
    return decide(D, today_active=today, yesterday_active=yesterday, yesterday_date=Y, planned=plan(planned),
                  approval=approval, stale=stale)


def test_a_stuck_crm_client_book_holds_only_the_crm_derived_alerts():
    """The reported night: the client book re-sent, a privileged leaver's revocation planned. The
    revocation, publishing and closure go out; only the client-derived alerts wait."""
    d = night(stale=stuck("crm/clients"), planned=1)
    assert d.status == "hold" and not d.holds_night
    assert d.held == ["alert:departure_risk_high", "alert:handover_overdue"]
    assert d.goes_out == [PUBLISH, CLOSE_TICKETS, REVOCATION_TICKETS, "alerts"]
    assert not is_held(d.held, REVOCATION_TICKETS) and not is_held(d.held, PUBLISH)
    assert is_held(d.held, "alert:handover_overdue") and not is_held(d.held, "alert:complaint_deadline_breach")


def test_a_stuck_iam_account_list_never_hides_a_new_leavers_revocation():
    d = night(stale=stuck("iam/accounts"), planned=3)
    assert d.status == "hold" and d.held == [CLOSE_TICKETS]
    assert not is_held(d.held, REVOCATION_TICKETS) and not is_held(d.held, "alert:post_termination_login")


@pytest.mark.parametrize("trip", ["headcount", "revocations", "hr"])
def test_a_suspect_roster_or_mass_revocation_holds_the_whole_night(trip):
    kwargs = {"headcount": dict(today=300), "revocations": dict(planned=21), "hr": dict(stale=stuck("hr/employees"))}
    d = night(**kwargs[trip])
    assert d.holds_night and d.held == list(ACTIONS) and d.goes_out == []


@pytest.mark.parametrize(("stale", "planned", "held"), [
    (stuck("crm/clients") | stuck("iam/accounts"), 0,
     [CLOSE_TICKETS, "alert:departure_risk_high", "alert:handover_overdue"]),
    (stuck("crm/clients"), 21, list(ACTIONS)),  # plus a mass revocation: the wider scope wins
    (stuck("iam/accounts") | stuck("hr/employees"), 0, list(ACTIONS)),
])
def test_combined_breakers_hold_the_union_of_their_scopes(stale, planned, held):
    assert night(stale=stale, planned=planned).held == held


def test_a_quiet_day_warns_and_holds_nothing():
    d = night(stale=quiet("hr/employees"))
    assert d.status == "pass" and d.held == [] and d.goes_out == list(ACTIONS)
    assert len(d.warnings) == 1 and "hr/employees is byte-identical" in d.warnings[0] and "quiet day" in d.warnings[0]


# ----------------------------------------------------------------------------- approvals bind what was measured
def approved(held) -> dict:
    return {"fingerprint": held.fingerprint, "approved_by": "A. Officer"}


def test_an_approved_headcount_drop_does_not_release_a_worse_one():
    """132 -> 90 approved (31.8%); then 29 more vanish (132 -> 61, 53.8%) with no new revocation."""
    held = night(yesterday=132, today=90)
    assert held.status == "hold"
    assert night(yesterday=132, today=90, approval=approved(held)).status == "released"
    worse = night(yesterday=132, today=61, approval=approved(held))
    assert worse.status == "hold" and "fell 53.8% (132 on 2026-03-05 -> 61)" in worse.reasons[0]
    assert night(yesterday=132, today=95, approval=approved(held)).status == "hold"  # different: look again


def test_an_approved_revocation_count_does_not_release_another_plan_of_the_same_size():
    held = night(planned=25)
    assert night(planned=25, approval=approved(held)).status == "released"
    assert night(planned=26, approval=approved(held)).status == "hold"
    other = decide(D, today_active=400, yesterday_active=400, yesterday_date=Y, approval=approved(held),
                   planned=[("pub_leaver_access_exposure", f"X{i}", "AD", f"u{i}") for i in range(25)])
    assert other.status == "hold"


def test_an_approved_stale_file_does_not_release_another_stale_file_or_more_evidence():
    held = night(stale=stuck("crm/clients"))
    assert night(stale=stuck("crm/clients"), approval=approved(held)).status == "released"
    assert night(stale=stuck("crm/clients", sha256="ef" * 32), approval=approved(held)).status == "hold"
    assert night(stale=stuck("crm/clients", identical_nights=2), approval=approved(held)).status == "hold"
    assert night(stale=stuck("crm/clients") | stuck("iam/accounts"), approval=approved(held)).status == "hold"


def test_an_approval_of_one_breaker_does_not_release_a_new_one():
    held = night(stale=stuck("crm/clients"))
    d = night(stale=stuck("crm/clients"), today=300, approval=approved(held))
    assert d.status == "hold" and d.holds_night


def test_a_crm_only_approval_survives_the_revocations_that_went_out():
    """The CRM scope does not bind the plan: after tonight's tickets are issued the rerun plans none,
    and the approval still releases the held alerts."""
    held = night(stale=stuck("crm/clients"), planned=3)
    assert night(stale=stuck("crm/clients"), planned=0, approval=approved(held)).status == "released"


# ----------------------------------------------------------------------------- when a feed is stale
@pytest.mark.parametrize(("rows", "limit"), [(300, 66), (1000, 20), (3000, 7), (19_668, 2), (19_669, 1), (50_000, 1)])
def test_identical_nights_limit_follows_the_population(rows, limit):
    assert identical_nights_limit(rows) == limit


def ledger(nights: list[tuple], rows: int = 300) -> list[dict]:
    """Newest first: (date, identical to the night before, extracted_at, watermark, as_of)."""
    return [{"feed_date": d, "source_sha256": "ab" * 32, "row_count": rows, "stale": same, "extracted_at": at,
             "source_watermark": wm, "as_of": as_of} for d, same, at, wm, as_of in nights]


def at(day: dt.date) -> str:
    return f"{day + dt.timedelta(days=1)}T01:00:00+00:00"


def test_identical_bytes_with_an_advancing_extract_are_a_quiet_day():
    s = staleness(D, ledger([(D, True, at(D), "81", D), (Y, False, at(Y), "80", Y)]))
    assert s["identical"] and not s["stuck"] and s["evidence"] == []


def test_an_extraction_time_that_did_not_advance_is_a_stuck_extract():
    s = staleness(D, ledger([(D, True, at(Y), None, None), (Y, False, at(Y), None, None)]))
    assert s["stuck"] and "extracted_at did not advance" in s["evidence"][0]


def test_a_watermark_that_did_not_advance_is_a_stuck_extract():
    s = staleness(D, ledger([(D, True, None, "80", None), (Y, False, None, "80", None)]))
    assert s["stuck"] and "source_watermark did not advance (80)" in s["evidence"][0]


@pytest.mark.parametrize(("as_of", "stuck_"), [(Y, True), (D, False)])
def test_a_file_as_of_an_earlier_day_is_stale_even_when_its_bytes_changed(as_of, stuck_):
    s = staleness(D, ledger([(D, False, None, None, as_of), (Y, False, None, None, Y)]))
    assert (s is not None and s["stuck"]) == stuck_


@pytest.mark.parametrize(("streak", "stuck_"), [(65, False), (66, True), (67, True)])
def test_identical_nights_in_a_row_hold_at_the_populations_limit(streak, stuck_):
    nights = [(D - dt.timedelta(days=i), True, None, None, None) for i in range(streak)]
    nights.append((D - dt.timedelta(days=streak), False, None, None, None))
    s = staleness(D, ledger(nights, rows=300))
    assert s["identical_nights"] == streak and s["stuck"] == stuck_


def test_a_large_population_unchanged_for_one_night_is_stuck():
    s = staleness(D, ledger([(D, True, None, None, None), (Y, False, None, None, None)], rows=50_000))
    assert s["stuck"] and "1 identical nights in a row" in s["evidence"][0]


def test_a_table_not_delivered_tonight_or_changed_is_not_suspicious():
    assert staleness(D, ledger([(Y, True, None, None, None)])) is None
    assert staleness(D, ledger([(D, False, at(D), "2", D), (Y, False, at(Y), "1", Y)])) is None


def _ledger_row(con, feed: str, table: str, date: dt.date, *, stale: bool, extracted_at: str | None,
                rows: int = 300) -> None:
    con.execute("INSERT INTO raw._vigil_loads (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                "stale, run_id, loaded_at, extracted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'r', now(), %s)",
                (feed, table, date, f"{feed}/{date}/{table}.csv", "ab" * 32, rows, stale, extracted_at))


def test_evaluate_reads_the_staleness_evidence_from_the_load_ledger(tmp_path, monkeypatch):
    """A client book re-sent with yesterday's extraction time: held scope = CRM alerts; the roster,
    unchanged but freshly extracted, is a quiet day (a warning); approve releases exactly that."""
    import json

    import duckdb

    url = _warehouse(tmp_path, monkeypatch, yesterday_active=300, today_active=300, planned=1)
    with Warehouse.open(url).transaction() as con:
        for feed, table in (("crm", "clients"), ("hr", "employees")):
            _ledger_row(con, feed, table, Y, stale=False, extracted_at=f"{D}T01:00:00+00:00")
        _ledger_row(con, "crm", "clients", D, stale=True, extracted_at=f"{D}T01:00:00+00:00")
        _ledger_row(con, "hr", "employees", D, stale=True, extracted_at=f"{D + dt.timedelta(days=1)}T01:00:00+00:00")
    d = evaluate(url, D, planner=planner)
    assert d.status == "hold" and d.held == ["alert:departure_risk_high", "alert:handover_overdue"]
    assert [t["breaker"] for t in d.trips] == ["stale crm/clients"]
    assert "extracted_at did not advance" in d.reasons[0]
    assert len(d.warnings) == 1 and d.warnings[0].startswith("hr/employees is byte-identical")
    released = approve(url, D, reason="CRM frozen for migration weekend", by="A. Officer", planner=planner)
    assert released.status == "released" and released.held == []
    con = duckdb.connect(url, read_only=True)
    [(details,)] = con.execute("SELECT details FROM audit.audit_log WHERE event = 'breaker_released'").fetchall()
    con.close()
    details = json.loads(details)
    assert details["released"] == d.held and details["trips"][0]["measured"]["table"] == "crm/clients"


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_ledger_from_before_the_evidence_columns_is_upgraded(tmp_path, engine, request):
    """An existing warehouse (every raw table there, the ledger without the evidence columns) gets
    them on the next ensure_raw_schema, its rows kept; the loads then record the evidence."""
    url = str(tmp_path / "old.duckdb") if engine == "duckdb" else request.getfixturevalue("pg_url")
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        for column in ("extracted_at", "source_watermark", "as_of"):
            con.execute(f"ALTER TABLE raw._vigil_loads DROP COLUMN {column}")
        con.execute("INSERT INTO raw._vigil_loads VALUES ('hr', 'employees', DATE '2026-03-05', 'f', 'x', 3, false, "
                    "'r', now())")
    for _ in range(2):  # idempotent
        with wh.transaction() as con:
            wh.ensure_raw_schema(con)
    with wh.connection() as con:
        assert wh.fetchall(con, "SELECT feed, extracted_at, source_watermark, as_of FROM raw._vigil_loads") == [
            ("hr", None, None, None)]


def test_the_review_pack_says_which_nights_a_breaker_held_in_part(tmp_path):
    """Runs sheet: a night published under a narrow hold is 'published, part held by a breaker'
    until its approval's rerun publishes it whole."""
    from vigil.reports import Quarter
    from vigil.reports.data import ReviewData, _Reader, _runs

    url = str(tmp_path / "wh.duckdb")
    part = ["close_tickets"]
    nights = {Y: [("breaker_hold", {"held": part}), ("published", {"run_id": "a", "held": part})],
              D: [("breaker_hold", {"held": part}), ("published", {"run_id": "b", "held": part}),
                  ("breaker_released", {}), ("published", {"run_id": "c", "held": []})],
              D + dt.timedelta(days=1): [("published", {"run_id": "d", "held": []})]}
    for night, events in nights.items():
        for event, details in events:
            append_audit(Warehouse.open(url), run_date=night, event=event, actor="vigil", details=details)
    data = ReviewData(Quarter.parse("2026Q1"), dt.date(2026, 3, 31), False, "duckdb", "r", dt.datetime.now(), None,
                      False)
    wh = Warehouse.open(url)
    with wh.connection() as con:
        _runs(_Reader(wh, con), data)
    status = {row[0]: row[2] for row in data.tables["Runs"].rows}
    assert status == {Y: "published, part held by a breaker", D: "published after approval",
                      D + dt.timedelta(days=1): "published"}


def test_vigil_plan_prints_what_each_breaker_holds_and_what_goes_out(capsys):
    from vigil.cli import _print_decision

    _print_decision(night(stale=stuck("crm/clients") | quiet("hr/employees"), planned=1))
    out = " ".join(capsys.readouterr().out.split())
    assert "breakers: HOLD" in out and "crm/clients is a stuck extract" in out
    assert "(holds: alert:handover_overdue, alert:departure_risk_high)" in out
    assert "warning: hr/employees is byte-identical" in out
    assert "held until approved: alert:departure_risk_high, alert:handover_overdue" in out
    assert "goes out tonight: publish, close_tickets, revocation_tickets, alerts" in out
    _print_decision(night(today=300))
    out = " ".join(capsys.readouterr().out.split())
    assert "goes out tonight: nothing" in out


# --------------------------------------------------------------------------- the pipeline's check: one connection


def _candidate_night(tmp_path, yesterday_active: int, today_active: int):
    """Raw rosters for Y and D and an empty ticket plan (publish_candidate with no leaver exposure)."""
    from vigil.config import Settings

    url = str(tmp_path / "wh.duckdb")
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        for date, n in ((Y, yesterday_active), (D, today_active)):
            con.execute("INSERT INTO raw.hr__employees (employee_id, status, _feed_date) "
                        "SELECT 'E' || lpad(CAST(i AS VARCHAR), 4, '0'), 'active', %s FROM range(%s) t(i)", (date, n))
        con.execute("CREATE SCHEMA publish_candidate")
        for table in ("pub_leaver_access_exposure", "pub_notice_restrictions"):
            con.execute(f"CREATE TABLE publish_candidate.{table} (employee_id VARCHAR, system VARCHAR, "
                        f"account_id VARCHAR, entitlement VARCHAR, as_of_date DATE)")
        con.execute("CREATE TABLE publish_candidate.pub_leaver_entitlements (system VARCHAR, account_id VARCHAR, "
                    "entitlement VARCHAR)")
    return Settings(warehouse=url, out=tmp_path / "out", mode="demo")


def _count_connections(monkeypatch) -> list[int]:
    from vigil.store.warehouse import DuckDBWarehouse

    opened = []
    real = DuckDBWarehouse.connect

    def counting(self, *args, **kwargs):
        opened.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBWarehouse, "connect", counting)
    return opened


@pytest.mark.parametrize("today, holds", [(80, False), (79, True)])  # a drop of 20% passes, 21% holds
def test_check_breakers_plans_measures_and_records_on_one_connection(tmp_path, monkeypatch, today, holds):
    from vigil.gates.breakers import BreakerHold
    from vigil.pipeline import check_breakers

    settings = _candidate_night(tmp_path, yesterday_active=100, today_active=today)
    opened = _count_connections(monkeypatch)
    if holds:
        with pytest.raises(BreakerHold):
            check_breakers(settings, D, "run-1", alert=False)
    else:
        assert check_breakers(settings, D, "run-1", alert=False)["status"] == "pass"
    assert len(opened) == 1
    wh = Warehouse.open(settings.warehouse)
    with wh.connection() as con:
        events = wh.fetchall(con, "SELECT event, actor, run_id FROM audit.audit_log") \
            if "audit.audit_log" in wh.list_tables(con, ("audit",)) else []
    assert events == ([("breaker_hold", "vigil", "run-1")] if holds else [])  # a pass records nothing
