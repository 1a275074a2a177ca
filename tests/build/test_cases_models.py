"""The response loop's cases (docs/cases.md): opened from published findings, one deterministic id
per finding across nights, reruns and backfills, due_by and escalation from seed case_policy,
closure verified from the data (never from an ITSM claim), reopening, and the ITSM's events.

One small hand-built week (MINIMAL_NIGHT plus orphan accounts), four nights N0..N3, built with
one selective `dbt build` a night (the models behind pub_cases); every assertion reads what those
nights left. Subjects, each at a boundary of the privileged-orphan SLA (2 days: due N0 + 2 = N2):
  x900  never fixed                       -> open; not overdue on N1 (-1) and N2 (0), overdue on N3 (+1)
  x901  disabled on N1 (due -1)           -> closed_verified on N1, within SLA
  x902  disabled on N2 (due day, 0)       -> closed_verified on N2, within SLA
  x903  disabled on N3 (due +1)           -> closed_verified on N3, late
  u102  the leaver's privileged account: disabled on N1, re-enabled on N2 -> the revocation_overdue
        case and the leaver's access_frozen item close on N1 and reopen on N2 (same case id)
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from pathlib import Path

import pytest
import yaml

from fixtures.nights import MINIMAL_NIGHT, REPO, TEST_KEY, write_csv, write_night
from vigil.ingest.contract import table

N0 = dt.date(2026, 3, 2)
NIGHTS = [N0 + dt.timedelta(days=i) for i in range(4)]
N1, N2, N3 = NIGHTS[1:]
SELECT = ["+pub_cases", "+pub_case_items", "+pub_case_escalations", "+fct_case_event_quarantine", "+fct_response_kpis"]
DISABLED_ON = {"x901": N1, "x902": N2, "x903": N3}


def case_id(kind: str, subject_type: str, subject_id: str, opening_key: str | None = None) -> str:
    key = "|".join([kind, subject_type, subject_id] + ([opening_key] if opening_key else []))
    return "VCS-" + hashlib.md5(key.encode()).hexdigest()


def night_data(night: dt.date) -> dict:
    data = copy.deepcopy(MINIMAL_NIGHT)
    accounts = data["iam"]["accounts"]
    for acc in accounts:
        if acc["account_id"] == "u102":  # the leaver's privileged account: revoked on N1, back on N2
            acc["status"] = "disabled" if night == N1 else "enabled"
    for n in ("x900", "x901", "x902", "x903"):
        off = DISABLED_ON.get(n)
        accounts.append(dict(account_id=n, system="AD", username=f"temp{n}", employee_id="",
                             status="disabled" if off and night >= off else "enabled", is_privileged="true",
                             created_at="2025-01-01T08:00:00Z", last_login_at=f"{N0.isoformat()}T07:00:00Z"))
    return data


LAST: dict[str, list[dict]] = {}
X900 = case_id("orphan_account", "account", "AD:x900")
EVENTS = table("cases", "case_events")


def events_for(night: dt.date) -> list[dict]:
    """What the ITSM exports: N1 acknowledges and claims x900 resolved (it is not), plus an unknown
    case and an event dated before its case opened; N2 delivers an event older than one already
    delivered for the same case (the ITSM rewrote its past)."""
    if night == N1:
        return [
            dict(event_id="E1", case_id=X900, itsm_ref="INC1", event="acknowledged",
                 event_at="2026-03-03T09:00:00Z", actor_id="000103"),
            dict(event_id="E2", itsm_ref="INC1", event="resolved", event_at="2026-03-03T15:00:00Z", outcome="done"),
            dict(event_id="E3", case_id="VCS-" + "0" * 32, event="acknowledged", event_at="2026-03-03T10:00:00Z"),
            dict(event_id="E4", case_id=X900, event="assigned", event_at="2026-03-01T10:00:00Z"),
        ]
    if night == N2:
        return [dict(event_id="E5", case_id=X900, event="action_taken", event_at="2026-03-03T12:00:00Z")]
    return []


def _load(settings, night: dt.date) -> None:
    from vigil.pipeline import extract_feed, load_feed

    write_night(Path(settings.landing), night, night_data(night))
    events = events_for(night)
    if events:
        write_csv(Path(settings.landing) / "cases" / night.isoformat() / "case_events.csv",
                  list(EVENTS.column_names), events)
    for feed in ("hr", "iam", "crm", "complaints", "cases"):
        load_feed(settings, extract_feed(settings, feed, night, f"run-{night}"))


def _build(settings, night: dt.date, url: str | None = None, *, full_refresh: bool = False,
           select: list[str] = SELECT) -> None:
    from vigil.build.dbt_runner import run_dbt
    from vigil.store.warehouse import Warehouse

    url = url or settings.warehouse
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
    run_dbt(["build", "--indirect-selection", "cautious", "--select", *select, *(["--full-refresh"] if full_refresh else [])],
            warehouse=url, run_date=night, work_dir=Path(settings.out) / "dbt")


def _publish(settings, night: dt.date, url: str | None = None) -> None:
    """The night passed its gates: publish it as the pipeline does (vigil.pipeline.publish_night), so
    the audit log records it and the later nights' cases read its slice."""
    from vigil.pipeline import publish_night

    publish_night(settings.with_(warehouse=url) if url else settings, night, f"run-{night}")


def _rows(url: str, sql: str) -> list[dict]:
    from vigil.store.warehouse import Warehouse

    wh = Warehouse.open(url)
    with wh.transaction() as con:
        cur = con.execute(sql)
        cols = [c[0] for c in getattr(cur, "raw", cur).description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Run the four nights; keep a copy of fct_cases after each (the models are rebuilt nightly)."""
    from vigil.config import Settings

    root = tmp_path_factory.mktemp("cases-week")
    settings = Settings(landing=str(root / "landing"), warehouse=str(root / "wh" / "vigil.duckdb"), out=root / "out",
                        mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB",
                        create_warehouse=True)
    by_night = {}
    for night in NIGHTS:
        _load(settings, night)
        _build(settings, night)
        _publish(settings, night)
        by_night[night] = {r["case_id"]: r for r in _rows(settings.warehouse, "select * from marts.fct_cases")}
    items = _rows(settings.warehouse, "select * from publish_candidate.pub_case_items")
    kpis = _rows(settings.warehouse, "select * from marts.fct_response_kpis")
    escalations = _rows(settings.warehouse, "select * from publish_candidate.pub_case_escalations")
    LAST.update(kpis=kpis, escalations=escalations)  # the last night's (N3), for the KPI tests
    return settings, by_night, items


def _policy() -> dict[tuple[str, str], dict]:
    import csv

    with open(REPO / "dbt_project" / "seeds" / "response" / "case_policy.csv", newline="") as fh:
        return {(r["kind"], r["severity"]): r for r in csv.DictReader(fh)}


def test_orphan_cases_open_on_the_first_night_with_their_policy(week):
    _, by_night, _ = week
    first = by_night[N0]
    sla = int(_policy()[("orphan_account", "high")]["sla_days"])
    for n in ("x900", "x901", "x902", "x903"):
        c = first[case_id("orphan_account", "account", f"AD:{n}")]
        assert (c["kind"], c["owner_team"], c["severity"], c["status"]) == ("orphan_account", "iam", "high", "open")
        assert c["opened_on"] == N0 and c["due_by"] == N0 + dt.timedelta(days=sla) == N2
        assert c["priority"] == "P2" and not c["is_overdue"]


def test_due_day_boundary_minus_one_zero_plus_one(week):
    _, by_night, _ = week
    assert [by_night[n][X900]["is_overdue"] for n in NIGHTS] == [False, False, False, True]
    # escalation: P2 on the first night, one step up once escalate_after_days (1) old; P1 is the top
    assert [by_night[n][X900]["priority"] for n in NIGHTS] == ["P2", "P1", "P1", "P1"]
    assert all(by_night[n][X900]["opened_on"] == N0 for n in NIGHTS)


@pytest.mark.parametrize("account, closed_on, within_sla", [("x901", N1, True), ("x902", N2, True), ("x903", N3, False)])
def test_closure_is_verified_by_the_data_at_the_boundary(week, account, closed_on, within_sla):
    _, by_night, _ = week
    cid = case_id("orphan_account", "account", f"AD:{account}")
    before = [n for n in NIGHTS if n < closed_on]
    assert all(by_night[n][cid]["status"] == "open" and by_night[n][cid]["closed_at"] is None for n in before)
    for n in [n for n in NIGHTS if n >= closed_on]:
        c = by_night[n][cid]
        assert (c["status"], c["closed_at"], c["closed_within_sla"]) == ("closed_verified", closed_on, within_sla)
        assert c["verified_by"] == "pub_access_exceptions:AL-04" and c["opened_on"] == N0


def test_a_verified_case_whose_condition_returns_is_reopened_under_the_same_id(week):
    _, by_night, items = week
    cid = case_id("revocation_overdue", "account", "Payments:u102")
    assert [by_night[n][cid]["status"] for n in NIGHTS] == ["open", "closed_verified", "reopened", "reopened"]
    assert by_night[N1][cid]["closed_at"] == N1 and by_night[N2][cid]["closed_at"] is None
    assert by_night[N3][cid]["opened_on"] == N0 and by_night[N3][cid]["n_reopened"] == 1
    # reopened: due again sla_days after the night it came back (high: 1 day): N3 is its due day
    assert by_night[N3][cid]["due_by"] == N3 and not by_night[N3][cid]["is_overdue"]


def test_the_leaver_case_has_one_item_per_open_step_each_owned_and_verified_separately(week):
    _, by_night, items = week
    leaver = case_id("leaver", "employee", "000102", "2026-02-27")
    assert by_night[N0][leaver]["owner_team"] == "hr" and by_night[N0][leaver]["status"] == "open"
    mine = {i["item"]: i for i in items if i["case_id"] == leaver}
    # MINIMAL_NIGHT's leaver: a privileged account, a laptop never returned, a client with no new RM;
    # the record has reason and notice date, so record_complete is not an item
    assert set(mine) == {"access_frozen", "assets_returned", "clients_handed_over"}
    assert {k: v["owner_team"] for k, v in mine.items()} == {
        "access_frozen": "iam", "assets_returned": "it_assets", "clients_handed_over": "Private Banking"}
    assert mine["access_frozen"]["status"] == "reopened" and mine["assets_returned"]["status"] == "open"
    # the case stays open all week: some item is always open
    assert all(by_night[n][leaver]["status"] == "open" for n in NIGHTS)


def test_itsm_claims_never_close_a_case_and_bad_events_are_quarantined(week):
    settings, by_night, _ = week
    assert by_night[N0][X900]["status"] == "open" and by_night[N0][X900]["acknowledged_at"] is None
    n1 = by_night[N1][X900]
    assert n1["status"] == "resolved_claimed" and n1["closed_at"] is None  # the account is still enabled
    assert n1["acknowledged_at"] == dt.datetime(2026, 3, 3, 9, tzinfo=dt.timezone.utc)
    assert by_night[N3][X900]["days_claimed_unverified"] == 2
    quarantine = {r["event_id"]: r for r in _rows(settings.warehouse, "select * from marts.fct_case_event_quarantine")}
    assert {k: v["quarantine_reason"] for k, v in quarantine.items()} == {
        "E3": "unknown_case", "E4": "before_opened", "E5": "went_backwards"}
    assert quarantine["E3"]["_source_file"].endswith("cases/2026-03-03/case_events.csv")
    assert quarantine["E3"]["_source_line"] == 4


def test_case_ids_are_the_same_on_rerun_and_backfill(week, tmp_path):
    settings, by_night, _ = week
    # Vigil rebuilds the incremental models whole for a rerun or a backfill (docs/models.md); the case
    # history (full_refresh=false) survives that and gives back the same cases.
    # rerun of the last night: the same cases, field for field
    _build(settings, N3, full_refresh=True)
    again = {r["case_id"]: r for r in _rows(settings.warehouse, "select * from marts.fct_cases")}
    assert again == by_night[N3]
    # backfill of an earlier night after later ones: that night's view again, same ids
    _build(settings, N1, full_refresh=True)
    back = {r["case_id"]: r for r in _rows(settings.warehouse, "select * from marts.fct_cases")}
    assert set(back) == set(by_night[N1])
    assert {k: v["status"] for k, v in back.items()} == {k: v["status"] for k, v in by_night[N1].items()}
    _build(settings, N3, full_refresh=True)  # leave the warehouse as the week ended


def test_published_cases_have_exactly_the_contract_columns_and_no_pii(week):
    settings, _, _ = week
    rows = _rows(settings.warehouse, "select * from publish_candidate.pub_cases")
    assert list(rows[0]) == ["case_id", "kind", "subject_type", "subject_id", "owner_team", "opened_on", "due_by",
                             "priority", "status", "acknowledged_at", "closed_at", "verified_by",
                             "policy_version", "as_of_date"]
    text = repr(rows)
    assert not any(pii in text for pii in ("Bo Chen", "CANARY", "bank.test", "Anna"))
    yml = yaml.safe_load((REPO / "dbt_project" / "models" / "marts" / "publish" / "response"
                          / "_publish_response__models.yml").read_text())
    assert all(m["config"]["contract"]["enforced"] for m in yml["models"])
    assert {"pub_cases", "pub_case_items"} <= {r.split("'")[1] for e in yml["exposures"] for r in e["depends_on"]}


@pytest.mark.slow
def test_postgres_builds_the_same_cases(week, pg_url):
    from fixtures.postgres import copy_raw_layer

    settings, _, _ = week
    copy_raw_layer(settings.warehouse, pg_url)
    for night in NIGHTS:
        _build(settings, night, pg_url)
        _publish(settings, night, pg_url)

    def norm(url):
        return sorted(tuple(str(v) for v in r.values()) for r in _rows(url, "select * from publish_candidate.pub_cases"))

    assert norm(pg_url) == norm(settings.warehouse)


def test_response_kpis_match_a_hand_computation(week):
    """March 2026 to N3, all kinds: computed by hand from the week (see the module docstring)."""
    settings, by_night, items = week
    kpis = {r["kpi"]: r for r in LAST['kpis']
            if (r["period_type"], r["period_label"], r["kind"], r["owner_team"], r["department"])
            == ("month", "2026-03", "*", "*", "*")}
    value = {k: (float(r["numerator"]), r["denominator"], None if r["value"] is None else float(r["value"]))
             for k, r in kpis.items()}
    # closed in March: x901 after 1 day, x902 after 2, x903 after 3 (late); the revocation case is open again
    assert value["time_to_verified_closure_days"] == (6.0, 3, 2.0)
    assert value["closed_within_sla"][:2] == (2.0, 3)
    # acknowledged: only x900 (opened N0, acknowledged on N1)
    assert value["time_to_acknowledge_days"] == (1.0, 1, 1.0)
    # open on N3: x900, the revocation case, the leaver; overdue: x900 (due N2) and the leaver (due Feb 28)
    assert value["cases_open"][2] == 3 and value["cases_overdue"][2] == 2
    # cross-department (owned by another team than the one whose feed found it), due in March by N3:
    # the reopened revocation case (iam, found by hr; due N3), the leaver's access_frozen (reopened,
    # due N3) and assets_returned (it_assets, due Mar 2): none closed -> 0 of 3
    assert value["cross_department_completion"][:2] == (0.0, 3)
    # six cases opened in March, two active employees and, on N3, three enabled accounts (u101, u102, x900)
    assert value["risk_events_per_1000_employees"] == (6.0, 2, 3000.0)
    assert value["risk_events_per_1000_accounts"] == (6.0, 3, 2000.0)
    # the same figures by kind add up to the total
    by_kind = [r for r in LAST['kpis'] if r["kpi"] == "time_to_verified_closure_days" and r["period_label"] == "2026-03"
               and r["kind"] != "*" and r["owner_team"] == "*"]
    assert sum(r["denominator"] for r in by_kind) == 3
    assert {r["period_type"] for r in LAST['kpis']} == {"month", "quarter", "year"}


def test_escalations_are_change_only_and_name_the_owner_team(week):
    settings, by_night, _ = week
    esc = {(r["case_id"], r["escalation"]): r for r in LAST['escalations']}
    # N3: x900 went past its due date (N2) tonight; the claim on it is 2 days old, not past the grace (2)
    assert (X900, "overdue") in esc and (X900, "claim_unverified") not in esc
    assert esc[(X900, "overdue")]["owner_team"] == "iam" and esc[(X900, "overdue")]["days"] == 1
    assert esc[(X900, "overdue")]["alert_key"] == f"CASE-OD:{X900}:{N2.isoformat()}"
    # the leaver's case has been overdue since before N2: no new escalation tonight
    leaver = case_id("leaver", "employee", "000102", "2026-02-27")
    assert (leaver, "overdue") not in esc
    assert not any(r["is_go_live"] for r in LAST['escalations'])


# --------------------------------------------------------------------------- a held night is no night of the cases
#
# Three nights through the pipeline's own steps (load, dbt build, circuit breakers, publish, cases.jsonl):
# N0 and N2 deliver MINIMAL_NIGHT plus an ownerless enabled account x950 (an orphan: case X950). N1
# is a truncated extract: the roster without the active 000101 (the headcount breaker trips: 2 -> 1)
# and the account list without x950. Held and never rerun, N1 is no night of the cases: X950 stays
# open, never closed nor reopened, and u101 (ownerless only in N1's truncated roster) never gets a
# case. Rerun after approval and published, N1 counts: X950 closed on N1 and reopened on N2.

X950 = case_id("orphan_account", "account", "AD:x950")
U101 = case_id("orphan_account", "account", "AD:u101")
HELD_NIGHTS = NIGHTS[:3]
#: what the breakers read besides the cases' models: the revocations the night would plan
BREAKER_INPUTS = ["+pub_leaver_entitlements", "+pub_notice_restrictions"]


def truncated_or_not(night: dt.date) -> dict:
    data = copy.deepcopy(MINIMAL_NIGHT)
    data["iam"]["accounts"].append(dict(account_id="x950", system="AD", username="temp950", employee_id="",
                                        status="enabled", is_privileged="true", created_at="2025-01-01T08:00:00Z",
                                        last_login_at=f"{N0.isoformat()}T07:00:00Z"))
    if night == N1:  # what a truncated extract delivers: the roster and the account list cut short
        data["hr"]["employees"] = [e for e in data["hr"]["employees"] if e["employee_id"] != "000101"]
        data["hr"]["performance"] = []
        data["iam"]["accounts"] = [a for a in data["iam"]["accounts"] if a["account_id"] != "x950"]
    return data


def _run_night(settings, night: dt.date) -> str:
    """The night's steps after the load, as vigil.pipeline runs them: 'held' or 'published'."""
    from vigil.gates.breakers import BreakerHold
    from vigil.pipeline import check_breakers, write_night_cases

    _build(settings, night, select=SELECT + BREAKER_INPUTS)
    try:
        check_breakers(settings, night, f"run-{night}", alert=False)
    except BreakerHold:
        return "held"
    _publish(settings, night)
    write_night_cases(settings, night, f"run-{night}")
    return "published"


def _held_week(tmp_path_factory, *, rerun: bool):
    """(settings, {night: (outcome, fct_cases by id after the night's last run)}); `rerun`: N1 is
    approved and rerun (the same feeds) once held, as `vigil approve` and a rerun would."""
    from fixtures.demo import approve_held_night
    from vigil.config import Settings
    from vigil.pipeline import extract_feed, load_feed

    root = tmp_path_factory.mktemp("held-rerun" if rerun else "held")
    settings = Settings(landing=str(root / "landing"), warehouse=str(root / "wh" / "vigil.duckdb"), out=root / "out",
                        mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB",
                        create_warehouse=True)
    nights = {}
    for night in HELD_NIGHTS:
        write_night(Path(settings.landing), night, truncated_or_not(night))
        for feed in ("hr", "iam", "crm", "complaints"):
            load_feed(settings, extract_feed(settings, feed, night, f"run-{night}"))
        outcome = _run_night(settings, night)
        if outcome == "held" and rerun:
            approve_held_night(settings, night)  # a person looked at it and released it
            outcome = _run_night(settings, night)
        nights[night] = outcome, {r["case_id"]: r for r in _rows(settings.warehouse, "select * from marts.fct_cases")}
    return settings, nights


@pytest.fixture(scope="module")
def held_never_rerun(tmp_path_factory):
    return _held_week(tmp_path_factory, rerun=False)


@pytest.fixture(scope="module")
def held_then_rerun(tmp_path_factory):
    return _held_week(tmp_path_factory, rerun=True)


def _written(settings, night: dt.date) -> dict[str, dict]:
    import json

    path = Path(settings.out) / "cases" / night.isoformat() / "cases.jsonl"
    return {d["case_id"]: d for d in map(json.loads, path.read_text().splitlines())} if path.exists() else {}


def test_a_held_night_neither_closes_nor_reopens_a_case(held_never_rerun):
    settings, nights = held_never_rerun
    assert [nights[n][0] for n in HELD_NIGHTS] == ["published", "held", "published"]
    assert not (Path(settings.out) / "cases" / N1.isoformat()).exists()  # a held night writes no case
    x = nights[N2][1][X950]
    assert (x["status"], x["opened_on"], x["closed_at"], x["n_reopened"]) == ("open", N0, None, 0)
    assert x["due_by"] == nights[N0][1][X950]["due_by"]  # the same episode: the same due date
    assert U101 not in nights[N2][1]  # ownerless only in the held night's truncated roster: no case
    written = _written(settings, N2)
    assert "reopened" not in {d["status"] for d in written.values()}
    assert written.get(X950, {"status": "open"})["status"] == "open"
    assert U101 not in written
    published = {r["case_id"]: r for r in _rows(settings.warehouse, "select * from publish.pub_cases")}
    assert published[X950]["status"] == "open" and U101 not in published


def test_a_held_night_rerun_and_published_counts_like_any_other(held_then_rerun):
    settings, nights = held_then_rerun
    assert [nights[n][0] for n in HELD_NIGHTS] == ["published", "published", "published"]
    n1, n2 = nights[N1][1], nights[N2][1]
    assert (n1[X950]["status"], n1[X950]["closed_at"]) == ("closed_verified", N1)
    assert (n2[X950]["status"], n2[X950]["opened_on"], n2[X950]["n_reopened"], n2[X950]["closed_at"]) == (
        "reopened", N0, 1, None)
    assert (n1[U101]["status"], n1[U101]["opened_on"]) == ("open", N1)  # the truncated roster, published
    assert (n2[U101]["status"], n2[U101]["closed_at"]) == ("closed_verified", N2)
    assert _written(settings, N1)[X950]["status"] == "closed_verified"
    assert _written(settings, N2)[X950]["status"] == "reopened"
