"""Access and leavers (docs/models.md, "Rules: access and leavers"): the planted demo cases come out
of the right tables, and the controls and boundaries do not.

Everything reads the session's demo warehouse (tests/fixtures/demo.py: tiny demo data, every night run
through the whole pipeline on DuckDB); the last night L is the one the marts describe. The demo
background never triggers these rules (docs/demo-data.md), so flagged sets must EQUAL the planted
sets. The PostgreSQL check rebuilds the access models from the same raw layer on PostgreSQL and
compares every published table with DuckDB's.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import yaml

from fixtures.nights import REPO

from fixtures.postgres import PG_ADMIN_DSN, copy_raw_layer

DBT = REPO / "dbt_project"
PUBLISHED = ("pub_leaver_access_exposure", "pub_leaver_entitlements", "pub_notice_restrictions",
             "pub_post_termination_logins", "pub_access_exceptions")


def _vars() -> dict:
    return yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]


def _publish_schema() -> str:
    """Where dbt builds the publish models (dbt_project.yml: models.vigil.marts.publish +schema)."""
    config = yaml.safe_load((DBT / "dbt_project.yml").read_text())["models"]["vigil"]["marts"]["publish"]
    return config["+schema"]


PUB = _publish_schema()


def _criticality() -> dict[str, tuple[str, int | None]]:
    with open(DBT / "seeds" / "access" / "system_criticality.csv", newline="") as fh:
        return {r["system"]: (r["criticality"], int(r["revocation_due_days"]) if r["revocation_due_days"] else None)
                for r in csv.DictReader(fh)}


def _d(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def wh(demo_warehouse):
    return demo_warehouse


def _rows(wh, sql: str) -> list[dict]:
    return wh.rows(sql)


# --------------------------------------------------------------------------- AL-01 leaver access


def test_every_lingering_leaver_account_is_exposed_with_its_priority(wh):
    planted = wh.cases("leavers_lingering_access")
    rows = {(r["system"], r["account_id"]): r for r in _rows(wh, f"select * from {PUB}.pub_leaver_access_exposure")}
    assert set(rows) == {(c["system"], c["account_id"]) for c in planted}

    v, crit = _vars(), _criticality()
    logged_in = {(r["system"], r["account_id"]) for r in _rows(
        wh, f"select system, account_id from {PUB}.pub_post_termination_logins where outcome = 'success'")}
    for c in planted:
        r = rows[(c["system"], c["account_id"])]
        criticality, seed_days = crit.get(c["system"], ("standard", None))
        term = _d(c["termination_date"])
        if c["is_privileged"]:
            days = min(v["revocation_due_days_privileged"], seed_days if seed_days is not None else 99)
        else:
            days = seed_days if seed_days is not None else v["revocation_due_days_standard"]
        due = term + dt.timedelta(days=days)
        overdue = wh.last > due
        used = (c["system"], c["account_id"]) in logged_in  # a successful login after termination: P1
        expected = ("P1" if c["is_privileged"] or used or (overdue and criticality == "critical")
                    else "P2" if overdue else "P3")
        assert (r["employee_id"], r["termination_date"]) == (c["employee_id"], term)
        assert r["is_privileged"] == c["is_privileged"]
        assert r["due_date"] == due and r["is_overdue"] == overdue, c
        assert r["due_at"] == dt.datetime.combine(due, dt.time(23, 59, 59), dt.timezone.utc)
        assert r["days_overdue"] == max(0, (wh.last - due).days)
        assert r["priority"] == expected, c
        assert r["ticket_key"] == f"AL-01:{c['system']}:{c['account_id']}"
        assert r["rule_id"] == "AL-01" and r["policy_version"] == str(v["policy_version"])
        assert r["as_of_date"] == wh.last

    # LA3 terminated exactly on L: a leaver; privileged accounts due tonight (P1, not overdue yet)
    la3 = [rows[(c["system"], c["account_id"])] for c in planted if c["key"] == "LA3"]
    assert la3 and all(r["termination_date"] == wh.last for r in la3)
    assert {r["priority"] for r in la3 if r["is_privileged"]} == {"P1"}
    assert not any(r["is_overdue"] for r in la3)
    # LA1's privileged Payments account still holds payment_approve: listed for removal
    la1_pay = next(rows[(c["system"], c["account_id"])] for c in planted
                   if c["key"] == "LA1" and c["system"] == "Payments")
    assert "payment_approve" in la1_pay["entitlements_to_remove"].split(", ") and la1_pay["priority"] == "P1"


def test_leaver_entitlements_are_what_the_tickets_remove(wh):
    exposure = {r["ticket_key"]: r for r in _rows(wh, f"select * from {PUB}.pub_leaver_access_exposure")}
    ents = _rows(wh, f"select * from {PUB}.pub_leaver_entitlements")
    by_ticket: dict[str, list[str]] = {}
    for e in ents:
        by_ticket.setdefault(e["ticket_key"], []).append(e["entitlement"])
    assert set(by_ticket) <= set(exposure)
    for key, r in exposure.items():
        listed = r["entitlements_to_remove"].split(", ") if r["entitlements_to_remove"] else []
        assert sorted(by_ticket.get(key, [])) == listed and r["n_entitlements"] == len(listed)


def test_leavers_revoked_on_time_are_not_exposed_and_count_as_on_time(wh):
    exposed = {(r["system"], r["account_id"])
               for r in _rows(wh, "select system, account_id from marts.fct_leaver_access_exposure")}
    history = {(r["system"], r["account_id"]): r for r in _rows(wh, "select * from marts.fct_leaver_revocations")}
    for case in wh.cases("leavers_revoked_on_time"):
        for acc in case["accounts"]:
            key = (acc["system"], acc["account_id"])
            assert key not in exposed
            r = history[key]
            assert r["employee_id"] == case["employee_id"] and not r["is_open"]
            assert r["revoked_at"] == _ts(acc["disabled_at"]) and r["revoked_within_due"] is True, (case["key"], acc)


def test_revocation_history_has_the_kpi_columns_and_the_open_cases(wh):
    columns = [r["column_name"] for r in _rows(wh, """
        select column_name from information_schema.columns
        where table_schema = 'marts' and table_name = 'fct_leaver_revocations'""")]
    for c in ("employee_id", "system", "account_id", "is_privileged", "termination_date", "due_at", "revoked_at",
              "revoked_within_due", "hours_to_revoke", "is_open"):
        assert c in columns
    history = {(r["system"], r["account_id"]): r for r in _rows(wh, "select * from marts.fct_leaver_revocations")}
    for c in wh.cases("leavers_lingering_access"):
        r = history[(c["system"], c["account_id"])]
        assert r["is_open"] and r["revoked_at"] is None and r["hours_to_revoke"] is None
        # open: false once past due, null while the due date (end of day) has not passed
        assert r["revoked_within_due"] is (None if r["due_at"].date() >= wh.last else False), c
    # PT1's AD account was disabled late on L, two days after the termination: revoked late
    pt1 = next(c for c in wh.cases("post_termination_login") if c["key"] == "PT1")
    r = history[(pt1["system"], pt1["account_id"])]
    assert not r["is_open"] and r["revoked_within_due"] is False and r["revoked_at"].date() == wh.last
    assert float(r["hours_to_revoke"]) > 48


# --------------------------------------------------------------------------- AL-02 notice, AL-03 logins


def test_notice_period_privileges_are_restricted(wh):
    rows = _rows(wh, f"select * from {PUB}.pub_notice_restrictions")
    got = {(r["employee_id"], r["system"], r["account_id"], r["entitlement"]) for r in rows}
    assert got == {(c["employee_id"], c["system"], c["account_id"], c["entitlement"])
                   for c in wh.cases("notice_with_privileged")}
    by_emp = {r["employee_id"]: r for r in rows}
    for c in wh.cases("notice_with_privileged"):
        assert by_emp[c["employee_id"]]["notice_date"] == _d(c["notice_date"])
    assert all(r["priority"] == "P1" and r["is_overdue"] for r in rows)  # notice given days before L
    control = wh.cases("notice_privileges_revoked")[0]["employee_id"]
    assert control not in by_emp


def test_logins_after_termination_are_security_events(wh):
    rows = _rows(wh, f"select * from {PUB}.pub_post_termination_logins")
    planted = wh.cases("post_termination_login")
    assert {(r["system"], r["account_id"], r["login_at"]) for r in rows} == \
        {(c["system"], c["account_id"], _ts(c["login_at"])) for c in planted}
    by_account = {r["account_id"]: r for r in rows}
    for c in planted:
        r = by_account[c["account_id"]]
        # the event is both in logins.csv and in last_login_at: one row
        assert r["source"] == "both" and r["employee_id"] == c["employee_id"]
        assert r["termination_date"] == _d(c["termination_date"]) and r["days_after_termination"] >= 1
        assert r["account_status"] == c["account_status"]
        assert r["priority"] == ("P1" if c["account_status"] == "enabled" else "P2")
    # the boundary logged in on the termination day itself: not flagged
    boundary = wh.cases("post_termination_login_boundary")[0]
    assert boundary["account_id"] not in {r["account_id"] for r in rows}
    assert _rows(wh, f"""select count(*) as n from staging.stg_iam__logins
                         where account_id = '{boundary["account_id"]}'""")[0]["n"] > 0


# --------------------------------------------------------------------------- AL-04 .. AL-07


def _exceptions(wh, kind: str) -> list[dict]:
    return _rows(wh, f"select * from {PUB}.pub_access_exceptions where exception_kind = '{kind}'")


def test_orphan_accounts_but_not_service_or_disabled_ones(wh):
    planted = wh.cases("orphan_accounts")
    rows = {(r["system"], r["account_id"]): r for r in _rows(wh, "select * from marts.fct_orphan_accounts")}
    assert set(rows) == {(c["system"], c["account_id"]) for c in planted}
    for c in planted:
        r = rows[(c["system"], c["account_id"])]
        assert r["reason"] == ("no_owner" if c["reason"] == "no_owner" else "unknown_employee")
        if c["reason"] == "employee_id_without_leading_zeros":  # ids are text: '17' is not '0000017'
            assert r["employee_id"] == c["employee_id"] and r["similar_employee_id"] == c["similar_employee_id"]
    services = {(c["system"], c["account_id"]) for c in wh.cases("service_accounts")}
    assert len(services) >= 6 and not services & set(rows)
    assert _rows(wh, "select count(*) as n from intermediate.int_access__accounts "
                     "where is_service_account and is_enabled")[0]["n"] == wh.planted["totals"]["service_accounts"]
    disabled = wh.cases("orphan_accounts_disabled")[0]
    assert (disabled["system"], disabled["account_id"]) not in rows
    assert {(r["system"], r["account_id"]) for r in _exceptions(wh, "orphan_account")} == set(rows)


def test_dormant_accounts_and_the_90_day_boundary(wh):
    rows = {(r["system"], r["account_id"]): r for r in _rows(wh, "select * from marts.fct_dormant_accounts")}
    dormant = wh.cases("dormant_accounts")
    never = wh.cases("dormant_never_logged_in")
    assert set(rows) == {(c["system"], c["account_id"]) for c in dormant + never}
    for c in dormant:
        r = rows[(c["system"], c["account_id"])]
        assert r["dormant_basis"] == "last_login" and r["days_inactive"] == c["days_since_last_login"] > 90
    for c in never:
        r = rows[(c["system"], c["account_id"])]
        assert r["dormant_basis"] == "created_at" and r["last_activity_date"] == _d(c["created_at"])
    # exactly 90 days without a login is not dormant (documented boundary: MORE than 90 days)
    b = wh.cases("dormant_accounts_boundary")[0]
    assert (b["system"], b["account_id"]) not in rows
    last = _rows(wh, f"""select last_activity_at from intermediate.int_access__accounts
                         where system = '{b["system"]}' and account_id = '{b["account_id"]}' and is_enabled""")
    assert (wh.last - last[0]["last_activity_at"].astimezone(dt.timezone.utc).date()).days == 90
    assert {(r["system"], r["account_id"]) for r in _exceptions(wh, "dormant_account")} == set(rows)


def test_access_creep_after_a_move(wh):
    rows = _rows(wh, "select * from marts.fct_access_creep")
    planted = wh.cases("access_creep")
    assert {(r["employee_id"], r["system"], r["account_id"], r["entitlement"]) for r in rows} == \
        {(c["employee_id"], c["system"], c["account_id"], c["entitlement"]) for c in planted}
    by_emp = {r["employee_id"]: r for r in rows}
    for c in planted:
        r = by_emp[c["employee_id"]]
        assert r["effective_date"] == _d(c["effective_date"]) and r["new_position"] == c["new_position"]
        assert r["granted_at"] == _ts(c["granted_at"]) and r["priority"] == "P1"  # both rights are privileged
    assert len(_exceptions(wh, "access_creep")) == len(planted)


def test_segregation_of_duties_across_accounts(wh):
    rows = {r["employee_id"]: r for r in _rows(wh, "select * from marts.fct_sod_conflicts")}
    planted = wh.cases("sod_conflicts")
    assert set(rows) == {c["employee_id"] for c in planted}
    for c in planted:
        r = rows[c["employee_id"]]
        assert r["pair_id"] == "SOD-01"
        assert r["accounts_a"].split(", ") == sorted(c["payment_create"])
        assert r["accounts_b"].split(", ") == sorted(c["payment_approve"])
        assert r["spans_accounts"] == (set(c["payment_create"]) != set(c["payment_approve"]))
    assert any(r["spans_accounts"] for r in rows.values())  # SD2: the conflict spans two accounts
    assert {r["employee_id"] for r in _exceptions(wh, "sod_conflict")} == set(rows)


# --------------------------------------------------------------------------- AL-08 .. AL-10


def test_asset_return_statuses_and_the_day_3_boundary(wh):
    rows = {r["asset_id"]: r for r in _rows(wh, "select * from marts.fct_unreturned_assets")}
    ua = {c["key"]: c for c in wh.cases("unreturned_assets")}
    assert rows[ua["UA1"]["asset_id"]]["status"] == "overdue"
    assert rows[ua["UA2"]["asset_id"]]["status"] == "returned_late"
    boundary = wh.cases("unreturned_assets_boundary")[0]  # returned exactly on termination + 3
    assert rows[boundary["asset_id"]]["status"] == "returned_on_time"
    b = rows[boundary["asset_id"]]
    assert b["returned_date"] == b["due_date"] == _d(boundary["due_date"])
    pending = wh.cases("unreturned_assets_not_yet_due")[0]
    assert rows[pending["asset_id"]]["status"] == "not_yet_due"
    for c in list(ua.values()) + [boundary, pending]:
        assert rows[c["asset_id"]]["due_date"] == _d(c["due_date"])
    # only the planted ones are late; the rest of the leavers' assets came back on time
    late = {a for a, r in rows.items() if r["status"] in ("overdue", "returned_late")}
    assert late == {c["asset_id"] for c in ua.values()}
    assert {r["asset_id"] for r in _exceptions(wh, "asset_overdue")} == {ua["UA1"]["asset_id"]}
    assert {r["asset_id"] for r in _exceptions(wh, "asset_returned_late")} == {ua["UA2"]["asset_id"]}


def test_client_handovers_after_an_rm_leaves(wh):
    rows = {(r["client_id"], r["rm_employee_id"]): r for r in _rows(wh, "select * from marts.fct_client_handovers")}
    missing = {c["key"]: c for c in wh.cases("rm_departed_no_handover")}
    done = wh.cases("rm_departed_handover_done")
    rd1 = missing["RD1"]
    for client in rd1["active_client_ids"]:  # no handover at all: overdue, the CRM still names RD1
        r = rows[(client, rd1["employee_id"])]
        assert r["status"] == "overdue" and r["new_rm_employee_id"] is None and r["crm_names_departed_rm"]
    rd2 = missing["RD2"]  # handed over after 8 business days: done, but late
    for client in rd2["active_client_ids"]:
        r = rows[(client, rd2["employee_id"])]
        assert r["status"] == "done" and r["handed_over_within_due"] is False
        assert r["handed_over_on"] == _d(rd2["handover_date"])
        assert r["new_rm_employee_id"] == rd2["successor_employee_id"]
    for c in done:  # controls: RHB exactly on the 5th business day is on time
        for client in c["client_ids"]:
            r = rows[(client, c["employee_id"])]
            assert r["status"] == "done" and r["handed_over_within_due"] is True, (c["key"], client)
            assert r["handed_over_on"] == _d(c["handover_date"]) <= r["handover_due_date"]
    rhb = next(c for c in done if c["key"] == "RHB")
    assert rows[(rhb["client_ids"][0], rhb["employee_id"])]["handover_due_date"] == _d(rhb["handover_date"])
    # the whole table: only the planted RMs are ever late or overdue
    late = {rm for (_, rm), r in rows.items() if r["handed_over_within_due"] is False}
    assert late == {rd1["employee_id"], rd2["employee_id"]}
    published = {(r["client_id"], r["exception_kind"]) for r in _rows(
        wh, f"select * from {PUB}.pub_access_exceptions where exception_kind like 'handover%'")}
    assert published == {(c, "handover_overdue") for c in rd1["active_client_ids"]} | \
        {(c, "handover_late") for c in rd2["active_client_ids"]}


def test_churn_after_an_rm_leaves_and_the_90_day_window(wh):
    rows = {r["client_id"]: r for r in _rows(wh, "select * from marts.fct_rm_departure_churn")}
    planted = wh.cases("churned_after_rm_departure")
    assert {c for c, r in rows.items() if r["churned"]} == {c["client_id"] for c in planted}
    for c in planted:
        r = rows[c["client_id"]]
        assert (r["rm_employee_id"], r["closed_date"], r["days_after_termination"]) == \
            (c["rm_employee_id"], _d(c["closed_date"]), c["days_after"])
    outside = wh.cases("churn_outside_90_days")[0]
    r = rows[outside["client_id"]]
    assert r["churned"] is False and r["days_after_termination"] == outside["days_after"] > 90
    assert {r["client_id"] for r in _exceptions(wh, "rm_departure_churn")} == {c["client_id"] for c in planted}


# --------------------------------------------------------------------------- the publish layer


def test_published_tables_are_stamped_keyed_and_free_of_pii(wh):
    policy = str(_vars()["policy_version"])
    for table in PUBLISHED:
        rows = _rows(wh, f"select * from {PUB}.{table}")
        assert rows, table
        assert {r["policy_version"] for r in rows} == {policy} and {r["as_of_date"] for r in rows} == {wh.last}
        assert all(r["rule_id"].startswith("AL-") for r in rows)
        for name in rows[0]:
            assert not any(p in name for p in ("token", "name", "email", "phone", "national")), (table, name)
    # no pseudonymised token and no username of any employee or account leaks into publish
    values = {v for (v,) in _rows_t(wh, "select full_name_token from marts.dim_employees "
                                        "union select email_token from marts.dim_employees "
                                        "union select username from marts.dim_accounts")}
    values.discard(None)
    for table in PUBLISHED:
        for r in _rows(wh, f"select * from {PUB}.{table}"):
            assert not values & {v for v in r.values() if isinstance(v, str)}, table
    canaries = [c.lower() for c in wh.planted["canaries"]["names"] + wh.planted["canaries"]["national_ids"]]
    for table in PUBLISHED:
        text = repr(_rows(wh, f"select * from {PUB}.{table}")).lower()
        assert not any(c in text for c in canaries), table


def _rows_t(wh, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in _rows(wh, sql)]


def test_exposure_revocation_tickets_reads_the_published_tables():
    doc = yaml.safe_load((DBT / "models" / "marts" / "publish" / "access" / "_publish_access__models.yml").read_text())
    exposure = next(e for e in doc["exposures"] if e["name"] == "revocation_tickets")
    assert exposure["type"] == "application" and exposure["owner"]["name"] == "Vigil"
    assert set(exposure["depends_on"]) == {"ref('pub_leaver_access_exposure')", "ref('pub_leaver_entitlements')",
                                           "ref('pub_notice_restrictions')"}
    for model in doc["models"]:
        assert model["config"]["contract"]["enforced"] is True
        assert all(c.get("data_type") for c in model["columns"]), model["name"]


# --------------------------------------------------------------------------- PostgreSQL


def _normalise(row) -> tuple:
    """Engine-neutral values: instants in UTC, decimals as text."""
    out = []
    for v in row:
        if isinstance(v, dt.datetime):
            v = v.astimezone(dt.timezone.utc).isoformat()
        elif isinstance(v, Decimal):
            v = str(v)
        out.append(v)
    return tuple(out)


def _copy_raw_to_postgres(duck_path: str, pg_url: str) -> None:
    copy_raw_layer(duck_path, pg_url)


@pytest.mark.postgres
def test_postgres_builds_the_same_published_tables(wh, tmp_path):
    psycopg = pytest.importorskip("psycopg")
    from vigil.build.dbt_runner import run_dbt

    name = f"vigil_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        _copy_raw_to_postgres(wh.settings.warehouse, url)
        result = run_dbt(
            ["build", "--select", "+path:models/marts/publish/access", "+path:models/marts/access",
             "+path:models/marts/rm_departure",
             "--indirect-selection", "cautious", "--exclude-resource-type", "unit_test"],
            warehouse=url, run_date=wh.last, work_dir=tmp_path / "dbt",
        )
        assert result.failed_nodes == []
        with psycopg.connect(url) as con:
            con.execute("SET TimeZone = 'UTC'")
            for table in PUBLISHED + ("marts.fct_leaver_revocations", "marts.fct_client_handovers",
                                      "marts.fct_rm_departure_churn", "marts.fct_unreturned_assets"):
                qualified = table if "." in table else f"{PUB}.{table}"
                cur = con.execute(f"SELECT * FROM {qualified}")
                names = [c.name for c in cur.description]
                pg_rows = sorted((_normalise(r) for r in cur.fetchall()), key=repr)
                duck = _rows(wh, f"select {', '.join(names)} from {qualified}")
                duck_rows = sorted((_normalise(r.values()) for r in duck), key=repr)
                assert pg_rows and pg_rows == duck_rows, table
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- AL-01 / AL-11 agree


def _raw_night_rows() -> dict[str, dict[dt.date, list[dict]]]:
    """A leaver E1 (terminated 03-10, no notice) whose Wiki account is privileged only through an
    entitlement (Wiki: not in system_criticality, so standard, T+1 for the unprivileged): enabled
    on 03-09..03-11, disabled on 03-12 (no disabled_at). E0 left in 2019; Vigil's first night
    (03-09) already shows his account disabled, with no disabled_at."""
    nights = [dt.date(2024, 3, 9) + dt.timedelta(days=i) for i in range(4)]
    hr = [dict(employee_id="E1", employment_type="permanent", hire_date=dt.date(2020, 1, 1), status="terminated",
               termination_date=dt.date(2024, 3, 10)),
          dict(employee_id="E0", employment_type="permanent", hire_date=dt.date(2010, 1, 1), status="terminated",
               termination_date=dt.date(2019, 5, 31))]
    rows: dict[str, dict[dt.date, list[dict]]] = {"hr__employees": {}, "iam__accounts": {}, "iam__entitlements": {}}
    for night in nights:
        rows["hr__employees"][night] = hr
        status = "disabled" if night == nights[-1] else "enabled"
        rows["iam__accounts"][night] = [
            dict(account_id="w1", system="Wiki", employee_id="E1", status=status, is_privileged=False),
            dict(account_id="old", system="Wiki", employee_id="E0", status="disabled", is_privileged=False),
        ]
        rows["iam__entitlements"][night] = [
            dict(system="Wiki", account_id="w1", entitlement="wiki_admin", is_privileged=True),
        ]
    return rows


def _load_raw(path, rows) -> None:
    import duckdb

    from vigil.ingest.contract import TABLES, raw_table_ddl

    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for t in TABLES:
            con.execute(raw_table_ddl(t))
        by_name = {t.raw_table: t for t in TABLES}
        for table, nights in rows.items():
            t = by_name[table]
            for night, night_rows in nights.items():
                for line, row in enumerate(night_rows, start=2):
                    values = dict(row, _feed_date=night, _source_file=f"{t.feed}/{night}/{t.name}.csv",
                                  _source_sha256="0" * 64, _source_line=line, _run_id=f"test-{night}",
                                  _loaded_at=dt.datetime.combine(night + dt.timedelta(days=1), dt.time(2),
                                                                 dt.timezone.utc))
                    con.execute(f"INSERT INTO raw.{table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                                list(values.values()))
    finally:
        con.close()


@pytest.mark.slow
def test_exposure_and_revocation_history_agree_before_and_after_revocation(tmp_path):
    """Issue 20 item 1: an account privileged only through an entitlement is P1, due on the
    termination day, in AL-01 while enabled, and AL-11 keeps that privilege and due date once it
    is revoked (it used to fall back to the account flag: not privileged, due T+1, on time).
    Issue 20 item 2: an account already disabled when first seen carries no revocation time and
    is marked for exclusion from the KPIs. Nights 03-11 then 03-12, the second folded incrementally."""
    import duckdb

    from vigil.build.dbt_runner import run_dbt

    path = tmp_path / "wh.duckdb"
    _load_raw(path, _raw_night_rows())
    select = ["--select", "+fct_leaver_access_exposure", "+fct_leaver_revocations",
              "--exclude-resource-type", "unit_test", "--exclude-resource-type", "test"]

    def night(run_date: dt.date) -> tuple[dict, dict]:
        run_dbt(["build", *select], warehouse=str(path), run_date=run_date, work_dir=tmp_path / "dbt")
        con = duckdb.connect(str(path), read_only=True)
        try:
            def fetch(sql):
                cur = con.execute(sql)
                names = [d[0] for d in cur.description]
                return {r[names.index("account_id")]: dict(zip(names, r)) for r in cur.fetchall()}
            return (fetch("select * from marts.fct_leaver_access_exposure"),
                    fetch("select * from marts.fct_leaver_revocations"))
        finally:
            con.close()

    exposure, history = night(dt.date(2024, 3, 11))
    al01, al11 = exposure["w1"], history["w1"]
    assert (al01["is_privileged"], al01["priority"], al01["due_date"]) == (True, "P1", dt.date(2024, 3, 10))
    assert (al11["is_privileged"], al11["due_date"], al11["is_open"]) == (True, al01["due_date"], True)
    assert al11["revoked_within_due"] is False  # open past its due date

    exposure, history = night(dt.date(2024, 3, 12))
    assert "w1" not in exposure
    al11 = history["w1"]
    assert (al11["is_privileged"], al11["due_date"], al11["is_open"]) == (True, dt.date(2024, 3, 10), False)
    assert al11["revoked_within_due"] is False  # revoked 03-12, due 03-10: late, as AL-01 said

    old = history["old"]
    assert old["revoked_at"] is None and old["hours_to_revoke"] is None and old["revoked_within_due"] is None
    assert old["kpi_exclusion_reason"] == "disabled_when_first_seen"
