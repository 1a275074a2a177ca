"""vigil.build.dbt_runner and the dbt project: build a tiny raw layer, run `dbt build`, check the marts.

The raw layer is created exactly as the loader does (vigil.ingest.contract.raw_table_ddl) and
filled with a handful of rows that exercise the partition rules: snapshots with partitions before,
on and after run_date, an optional table never delivered (empty), an optional table delivered on
an earlier night, incremental complaints with a tie on updated_at and a stale re-delivery.

dbt costs ~5 s per start, so each engine is built once per module (the `built` fixture) and the
assertions share it. The PostgreSQL half is marked `postgres`.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from fixtures.postgres import PG_ADMIN_DSN
from vigil.build import dbt_runner
from vigil.build.dbt_runner import DBT_PROJECT_DIR, DbtError, DbtResult, dbt_env, run_dbt
from vigil.ingest.contract import TABLES, raw_table_ddl

RUN_DATE = date(2024, 3, 31)

MARTS = ("dim_employees", "dim_accounts", "fct_entitlements", "dim_clients", "fct_complaints", "dim_complainants")


def _d(s: str) -> date:
    return date.fromisoformat(s)


def _ts(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- fixture rows
# {raw table: {feed date: [rows]}}; columns left out are NULL, lineage columns are added.
BEFORE, ON, AFTER = "2024-03-30", "2024-03-31", "2024-04-01"

RAW_ROWS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "hr__employees": {
        BEFORE: [
            dict(employee_id="E001", employment_type="permanent", hire_date=_d("2020-01-15"), status="active"),
            dict(employee_id="E002", employment_type="permanent", hire_date=_d("2018-06-01"), status="active"),
            dict(employee_id="E003", employment_type="contractor", hire_date=_d("2021-09-01"), status="active"),
            dict(employee_id="E099", employment_type="permanent", hire_date=_d("2019-01-01"), status="active"),
        ],
        ON: [
            dict(employee_id="E001", full_name_token="tok-n1", department="Retail", position="Adviser",
                 manager_id="E002", employment_type="permanent", hire_date=_d("2020-01-15"), status="active"),
            dict(employee_id="E002", department="Retail", position="Manager", employment_type="permanent",
                 hire_date=_d("2018-06-01"), status="notice", notice_date=_d("2024-03-15"),
                 termination_date=_d("2024-04-15"), termination_reason="resignation"),
            dict(employee_id="E003", department="Private", employment_type="contractor",
                 hire_date=_d("2021-09-01"), status="terminated", termination_date=_d("2024-03-31"),
                 termination_reason="dismissal"),
            dict(employee_id="E004", employment_type="permanent", hire_date=_d("2015-02-01"),
                 status="terminated", termination_date=_d("2023-12-31"), termination_reason="retirement"),
        ],
        AFTER: [  # the future of this run: must not be seen
            dict(employee_id="E001", employment_type="permanent", hire_date=_d("2020-01-15"),
                 status="terminated", termination_date=_d("2024-04-01")),
            dict(employee_id="E005", employment_type="permanent", hire_date=_d("2024-04-01"), status="active"),
        ],
    },
    "hr__performance": {  # optional: last delivered five days before run_date
        "2024-03-26": [
            dict(employee_id="E001", period_end=_d("2022-12-31"), rating=2),
            dict(employee_id="E001", period_end=_d("2023-12-31"), rating=4),
            dict(employee_id="E002", period_end=_d("2023-12-31"), rating=3),
        ],
        AFTER: [
            dict(employee_id="E001", period_end=_d("2023-12-31"), rating=5),
            dict(employee_id="E001", period_end=_d("2024-03-31"), rating=1),
        ],
    },
    "hr__job_changes": {},  # optional and never delivered: the table exists but is empty
    "hr__assets": {
        "2024-03-29": [
            dict(asset_id="A1", employee_id="E003", asset_type="laptop", issued_date=_d("2021-09-01")),
            dict(asset_id="A2", employee_id="E001", asset_type="token", issued_date=_d("2020-01-15"),
                 returned_date=_d("2023-05-01")),
            dict(asset_id="A3", employee_id="E001", asset_type="badge", issued_date=_d("2020-01-15")),
        ],
    },
    "iam__accounts": {
        BEFORE: [
            dict(account_id="a1", system="AD", employee_id="E001", status="enabled", is_privileged=False),
            dict(account_id="a99", system="AD", employee_id="E099", status="enabled", is_privileged=False),
        ],
        ON: [
            dict(account_id="a1", system="AD", username="u1", employee_id="E001", status="enabled",
                 is_privileged=False, created_at=_ts("2020-01-15 09:00")),
            dict(account_id="a3", system="AD", username="u3", employee_id="E003", status="enabled",
                 is_privileged=True),
            dict(account_id="svc1", system="AD", username="svc_backup", status="enabled", is_privileged=True),
            dict(account_id="x9", system="CRMAPP", username="u9", employee_id="E999", status="enabled",
                 is_privileged=False),
            dict(account_id="x1", system="CRMAPP", username="u1", employee_id="E001", status="disabled",
                 is_privileged=False),
        ],
        AFTER: [
            dict(account_id="a5", system="AD", employee_id="E005", status="enabled", is_privileged=False),
        ],
    },
    "iam__entitlements": {
        BEFORE: [dict(system="AD", account_id="a99", entitlement="users", is_privileged=False)],
        ON: [
            dict(system="AD", account_id="a1", entitlement="users", is_privileged=False),
            dict(system="AD", account_id="a3", entitlement="domain_admins", is_privileged=True),
            dict(system="AD", account_id="a3", entitlement="users", is_privileged=False),
            dict(system="AD", account_id="svc1", entitlement="backup_operators", is_privileged=True),
            dict(system="CRMAPP", account_id="x9", entitlement="crm_read", is_privileged=False),
        ],
        AFTER: [dict(system="AD", account_id="a5", entitlement="users", is_privileged=False)],
    },
    "iam__logins": {  # incremental: events accumulate
        BEFORE: [dict(system="AD", account_id="a1", login_at=_ts("2024-03-30 08:00"), outcome="success")],
        ON: [
            dict(system="AD", account_id="a1", login_at=_ts("2024-03-31 09:00"), outcome="success"),
            dict(system="AD", account_id="a3", login_at=_ts("2024-03-31 07:00"), outcome="failure"),
        ],
        AFTER: [dict(system="AD", account_id="a1", login_at=_ts("2024-04-01 08:30"), outcome="success")],
    },
    "crm__clients": {
        ON: [
            dict(client_id="K1", client_name_token="tok-c1", segment="retail", rm_employee_id="E001",
                 status="active", opened_date=_d("2019-05-01"), aum=Decimal("1000.50")),
            dict(client_id="K2", segment="private", rm_employee_id="E003", status="active",
                 aum=Decimal("2500000.00")),
            dict(client_id="K3", segment="corporate", status="closed", closed_date=_d("2023-10-01")),
        ],
        AFTER: [dict(client_id="K4", segment="retail", rm_employee_id="E005", status="active")],
    },
    "crm__rm_assignments": {
        "2024-03-28": [
            dict(client_id="K1", rm_employee_id="E002", start_date=_d("2019-05-01"), end_date=_d("2023-06-30")),
            dict(client_id="K1", rm_employee_id="E001", start_date=_d("2023-07-01")),
            dict(client_id="K2", rm_employee_id="E003", start_date=_d("2021-09-15")),
        ],
    },
    "complaints__complaints": {  # incremental: versions accumulate, latest updated_at wins
        "2024-03-29": [
            dict(complaint_id="CP1", complainant_id="P1", received_at=_ts("2024-03-01 10:00"),
                 updated_at=_ts("2024-03-10 10:00"), channel="phone", category="fees", employee_id="E001",
                 status="open"),
            dict(complaint_id="CP2", complainant_id="P2", received_at=_ts("2024-03-10 12:00"),
                 updated_at=_ts("2024-03-20 12:00"), channel="online", category="fraud", status="in_progress",
                 amount=Decimal("125.00")),
        ],
        BEFORE: [
            dict(complaint_id="CP1", complainant_id="P1", received_at=_ts("2024-03-01 10:00"),
                 updated_at=_ts("2024-03-29 09:00"), channel="phone", category="fees", employee_id="E001",
                 status="in_progress"),
            # an older version delivered again later: must not beat the 03-20 version
            dict(complaint_id="CP2", complainant_id="P2", received_at=_ts("2024-03-10 12:00"),
                 updated_at=_ts("2024-03-12 12:00"), channel="online", category="fraud", status="open"),
        ],
        ON: [
            # same updated_at as the 03-30 delivery: the tie goes to the latest _feed_date
            dict(complaint_id="CP1", complainant_id="P1", received_at=_ts("2024-03-01 10:00"),
                 updated_at=_ts("2024-03-29 09:00"), channel="phone", category="fees", employee_id="E001",
                 status="resolved", resolved_at=_ts("2024-03-29 09:00"), outcome="upheld", satisfaction=4),
            dict(complaint_id="CP3", complainant_id="P3", received_at=_ts("2024-03-31 08:00"),
                 updated_at=_ts("2024-03-31 08:00"), channel="branch", category="service", status="open"),
        ],
        AFTER: [
            dict(complaint_id="CP1", complainant_id="P1", received_at=_ts("2024-03-01 10:00"),
                 updated_at=_ts("2024-04-01 10:00"), channel="phone", category="fees", status="closed"),
            dict(complaint_id="CP4", complainant_id="P1", received_at=_ts("2024-04-01 10:00"),
                 updated_at=_ts("2024-04-01 10:00"), channel="email", category="other", status="open"),
        ],
    },
    "complaints__complainants": {  # incremental: latest _feed_date wins
        "2024-03-29": [
            dict(complainant_id="P1", full_name_token="tok-p1", client_id="K1", insider_link=False),
            dict(complainant_id="P2", insider_link=False),
        ],
        ON: [dict(complainant_id="P1", full_name_token="tok-p1", client_id="K1", insider_link=True)],
        AFTER: [
            dict(complainant_id="P1", client_id="K1", insider_link=False),
            dict(complainant_id="P3", insider_link=False),
        ],
    },
}


def _raw_inserts(placeholder: str) -> list[tuple[str, list[Any]]]:
    """(INSERT statement, parameters) for every fixture row, lineage columns included."""
    by_name = {t.raw_table: t for t in TABLES}
    statements = []
    for raw_table, partitions in RAW_ROWS.items():
        t = by_name[raw_table]
        known = {c.warehouse_name for c in t.columns}
        for feed_date, rows in partitions.items():
            fd = _d(feed_date)
            for line, row in enumerate(rows, start=2):
                assert set(row) <= known, f"{raw_table}: unknown columns {set(row) - known}"
                values = dict(row)
                values.update(
                    _feed_date=fd,
                    _source_file=f"{t.feed}/{fd.isoformat()}/{t.name}.csv",
                    _source_sha256="0" * 64,
                    _source_line=line,
                    _loaded_at=datetime.combine(fd + timedelta(days=1), datetime.min.time(), timezone.utc)
                    + timedelta(hours=2),
                    _run_id=f"test-{fd.isoformat()}",
                )
                cols = list(values)
                sql = (
                    f"INSERT INTO raw.{raw_table} ({', '.join(cols)}) "
                    f"VALUES ({', '.join([placeholder] * len(cols))})"
                )
                statements.append((sql, [values[c] for c in cols]))
    return statements


def _create_raw(execute: Callable[..., Any], placeholder: str) -> None:
    execute("CREATE SCHEMA IF NOT EXISTS raw")
    for t in TABLES:
        execute(raw_table_ddl(t))
    for sql, params in _raw_inserts(placeholder):
        execute(sql, params)


# --------------------------------------------------------------------------- engines


@dataclass
class Built:
    engine: str
    warehouse: str
    result: DbtResult
    query: Callable[[str], list[tuple]]


def _duckdb_query(path: Path) -> Callable[[str], list[tuple]]:
    import duckdb

    def query(sql: str) -> list[tuple]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql).fetchall()
        finally:
            con.close()

    return query


def _build_duckdb(tmp: Path) -> Built:
    import duckdb

    path = tmp / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        _create_raw(con.execute, "?")
    finally:
        con.close()  # dbt runs in another process: release the file lock first
    result = run_dbt(["build"], warehouse=str(path), run_date=RUN_DATE, work_dir=tmp / "dbt")
    return Built("duckdb", str(path), result, _duckdb_query(path))


def _pg_query(url: str) -> Callable[[str], list[tuple]]:
    import psycopg

    def query(sql: str) -> list[tuple]:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql).fetchall()

    return query


def _build_postgres(url: str, tmp: Path) -> Built:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        _create_raw(con.execute, "%s")
    result = run_dbt(["build"], warehouse=url, run_date=RUN_DATE, work_dir=tmp / "dbt")
    return Built("postgres", url, result, _pg_query(url))


@pytest.fixture(scope="module")
def duckdb_built(tmp_path_factory) -> Built:
    """The dbt project built once on a DuckDB file holding the fixture raw layer."""
    return _build_duckdb(tmp_path_factory.mktemp("dbt_duckdb"))


@pytest.fixture(scope="module")
def postgres_built(tmp_path_factory):
    """The dbt project built once in a fresh PostgreSQL database (vigil_test_<random>), dropped after."""
    psycopg = pytest.importorskip("psycopg")
    name = f"vigil_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        yield _build_postgres(url, tmp_path_factory.mktemp("dbt_postgres"))
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request) -> Built:
    """Each engine's build (the module-scoped fixtures above, so dbt runs once per engine)."""
    return request.getfixturevalue(f"{request.param}_built")


# --------------------------------------------------------------------------- the build


def test_build_succeeds(built: Built):
    r = built.result
    assert r.success and r.returncode == 0
    assert r.failed_nodes == []
    assert (r.target_path / "run_results.json").exists()
    assert (r.log_path / "dbt.log").exists()
    ids = {n.unique_id for n in r.nodes}
    for mart in MARTS:
        assert f"model.vigil.{mart}" in ids
        assert r.node(f"model.vigil.{mart}").status == "success"
    assert any(n.resource_type == "unit_test" for n in r.nodes)
    # demo-legitimate violations are warnings, not failures: E999 owns an orphan account
    warned = {n.name for n in r.warned_nodes}
    assert any(name.startswith("relationships_dim_accounts_employee_id") for name in warned), warned
    print(f"\n[{built.engine}] dbt build: {r.elapsed:.1f}s, {r.status_counts()}")


def test_schemas_are_used_as_is(built: Built):
    rows = built.query(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('staging', 'intermediate', 'marts')"
    )
    found = {(s, t) for s, t in rows}
    assert ("marts", "fct_complaints") in found
    assert ("staging", "stg_hr__employees") in found
    assert ("intermediate", "int_complaints__latest_versions") in found


def test_dim_employees_respects_run_date_partitions(built: Built):
    rows = built.query(
        "select employee_id, status, is_active, is_leaver, is_leaving, tenure_days, latest_rating, "
        "n_assets_outstanding, as_of_date from marts.dim_employees order by employee_id"
    )
    by_id = {r[0]: r[1:] for r in rows}
    # E099 only in an older partition, E005 only in the partition after run_date
    assert sorted(by_id) == ["E001", "E002", "E003", "E004"]
    # E001 is terminated in the 04-01 partition, which this run must not see
    assert by_id["E001"][:4] == ("active", True, False, False)
    assert by_id["E001"][4] == (RUN_DATE - date(2020, 1, 15)).days
    assert by_id["E001"][5] == 4  # performance partition 03-26; the 04-01 one is ignored
    assert by_id["E001"][6] == 1  # A3 out, A2 returned
    assert by_id["E001"][7] == RUN_DATE
    assert by_id["E002"][:4] == ("notice", True, False, True)  # terminates after run_date
    assert by_id["E003"][:4] == ("terminated", False, True, False)  # termination_date == run_date
    assert by_id["E003"][6] == 1  # laptop not returned
    assert by_id["E004"][:4] == ("terminated", False, True, False)
    assert by_id["E004"][4] == (date(2023, 12, 31) - date(2015, 2, 1)).days


def test_dim_accounts_and_entitlements_owner(built: Built):
    rows = built.query(
        "select system, account_id, employee_id, owner_status, owner_is_leaver, n_entitlements, "
        "n_privileged_entitlements, last_successful_login_at, last_failed_login_at "
        "from marts.dim_accounts order by system, account_id"
    )
    by_key = {(r[0], r[1]): r[2:] for r in rows}
    assert sorted(by_key) == [("AD", "a1"), ("AD", "a3"), ("AD", "svc1"), ("CRMAPP", "x1"), ("CRMAPP", "x9")]
    assert by_key[("AD", "a1")][:5] == ("E001", "matched", False, 1, 0)
    assert by_key[("AD", "a1")][5] == _ts("2024-03-31 09:00")  # the 04-01 login is in the future
    assert by_key[("AD", "a3")][:5] == ("E003", "matched", True, 2, 1)
    assert by_key[("AD", "a3")][5:] == (None, _ts("2024-03-31 07:00"))
    assert by_key[("AD", "svc1")][:3] == (None, "unowned", None)
    assert by_key[("CRMAPP", "x9")][:3] == ("E999", "unknown_employee", None)
    assert by_key[("CRMAPP", "x1")][3:5] == (0, 0)  # no entitlement at all: 0, not null
    # the counts are computed once (int_access__accounts); the dimension shows the same numbers
    counted = built.query("select system, account_id, n_entitlements, n_privileged_entitlements "
                          "from intermediate.int_access__accounts order by system, account_id")
    assert counted == [(s, a, *v[3:5]) for (s, a), v in sorted(by_key.items())]

    ents = built.query(
        "select system, account_id, entitlement, employee_id, owner_status, owner_is_leaver, account_found "
        "from marts.fct_entitlements order by 1, 2, 3"
    )
    assert ents == [
        ("AD", "a1", "users", "E001", "matched", False, True),
        ("AD", "a3", "domain_admins", "E003", "matched", True, True),
        ("AD", "a3", "users", "E003", "matched", True, True),
        ("AD", "svc1", "backup_operators", None, "unowned", None, True),
        ("CRMAPP", "x9", "crm_read", "E999", "unknown_employee", None, True),
    ]


def test_dim_clients_current_rm(built: Built):
    rows = built.query(
        "select client_id, rm_employee_id, rm_status, rm_is_leaver, rm_assigned_since, aum "
        "from marts.dim_clients order by client_id"
    )
    assert rows == [
        ("K1", "E001", "matched", False, date(2023, 7, 1), Decimal("1000.50")),
        ("K2", "E003", "matched", True, date(2021, 9, 15), Decimal("2500000.00")),
        ("K3", None, "unassigned", None, None, None),
    ]


def test_fct_complaints_latest_version(built: Built):
    rows = built.query(
        "select complaint_id, status, updated_at, _feed_date, n_versions, days_open, is_open, client_id, "
        "insider_link from marts.fct_complaints order by complaint_id"
    )
    assert rows == [
        # tie on updated_at 03-29 09:00 between the 03-30 and 03-31 deliveries: 03-31 wins
        ("CP1", "resolved", _ts("2024-03-29 09:00"), date(2024, 3, 31), 3, 28, False, "K1", True),
        # the stale 03-12 version delivered on 03-30 does not beat updated_at 03-20
        ("CP2", "in_progress", _ts("2024-03-20 12:00"), date(2024, 3, 29), 2, 21, True, None, False),
        ("CP3", "open", _ts("2024-03-31 08:00"), date(2024, 3, 31), 1, 0, True, None, None),
    ]


def test_dim_complainants_latest_delivery(built: Built):
    rows = built.query(
        "select complainant_id, client_id, insider_link, n_complaints, n_open_complaints, _feed_date "
        "from marts.dim_complainants order by complainant_id"
    )
    assert rows == [
        ("P1", "K1", True, 1, 0, date(2024, 3, 31)),  # the 04-01 delivery is in the future
        ("P2", None, False, 1, 1, date(2024, 3, 29)),
    ]


def test_failing_test_raises_dbt_error_naming_the_node(duckdb_built: Built, tmp_path: Path):
    """A duplicate employee in the run_date partition breaks unique(employee_id) of the staging view.

    One engine is enough for the error path (each dbt start costs ~5 s).
    """
    import duckdb

    built = duckdb_built

    copy = tmp_path / "broken.duckdb"
    shutil.copyfile(built.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            "INSERT INTO raw.hr__employees (employee_id, employment_type, hire_date, status, _feed_date) "
            "VALUES ('E001', 'permanent', DATE '2020-01-15', 'active', DATE '2024-03-31')"
        )
    finally:
        con.close()
    with pytest.raises(DbtError) as info:
        run_dbt(
            ["test", "--select", "stg_hr__employees", "--exclude", "test_type:unit"],
            warehouse=str(copy),
            run_date=RUN_DATE,
            work_dir=tmp_path / "dbt",
        )
    err = info.value
    assert "test.vigil.unique_stg_hr__employees_employee_id" in str(err)
    assert [n.name for n in err.failed_nodes] == ["unique_stg_hr__employees_employee_id"]
    assert err.failed_nodes[0].failures == 1
    assert err.result.returncode != 0 and not err.result.success


def test_incremental_feed_tests_check_tonights_partition_only(duckdb_built: Built, tmp_path: Path):
    """The staging views of the incremental feeds hold every night ever delivered; their tests see
    only the run date's partition (earlier nights were tested on their own), so a night's tests do
    not grow with the history. A defect in yesterday's partition is not tested again (boundary);
    the same defect in tonight's fails, naming the test."""
    import duckdb

    copy = tmp_path / "history.duckdb"
    shutil.copyfile(duckdb_built.warehouse, copy)
    select = ["test", "--select", "stg_complaints__complaints", "--exclude", "test_type:unit"]

    def add_bad_version(feed_date: str) -> None:
        # no complainant_id, received_at or channel, and an unknown status
        con = duckdb.connect(str(copy))
        try:
            con.execute("INSERT INTO raw.complaints__complaints (complaint_id, updated_at, status, _feed_date) "
                        "VALUES ('C-BAD', TIMESTAMPTZ '2024-03-29 10:00:00+00', 'lost', ?)", [feed_date])
        finally:
            con.close()

    add_bad_version(BEFORE)
    result = run_dbt(select, warehouse=str(copy), run_date=RUN_DATE, work_dir=tmp_path / "dbt")
    assert result.failed_nodes == [] and len(result.nodes) > 5

    add_bad_version(ON)
    with pytest.raises(DbtError) as info:
        run_dbt(select, warehouse=str(copy), run_date=RUN_DATE, work_dir=tmp_path / "dbt")
    failed = {n.name for n in info.value.failed_nodes}
    assert "accepted_values_stg_complaints__complaints_status__open__in_progress__resolved__closed" in failed
    assert "not_null_stg_complaints__complaints_complainant_id" in failed
    assert all(n.failures == 1 for n in info.value.failed_nodes)  # tonight's row, not yesterday's too


def test_next_night_reuses_the_parsed_project_and_sees_its_own_date(duckdb_built: Built, tmp_path: Path):
    """The run date is not a --vars value, so the next night's dbt parses partially (~10 s saved)
    and yet every model and date-scoped test runs as of the new date."""
    import subprocess

    copy = tmp_path / "next.duckdb"
    shutil.copyfile(duckdb_built.warehouse, copy)
    work = tmp_path / "dbt"
    # last night's parsed project, for this warehouse (the profile, and so the parse, names the file)
    run_dbt(["parse"], warehouse=str(copy), run_date=RUN_DATE, work_dir=work)
    (work / "logs" / "dbt.log").unlink()

    next_night = date.fromisoformat(AFTER)
    run_dbt(["build", "--select", "+dim_employees", "fct_kpi_scorecard_history", "--indirect-selection", "cautious",
             "--exclude-resource-type", "unit_test"],
            warehouse=str(copy), run_date=next_night, work_dir=work)
    dbt_log = (work / "logs" / "dbt.log").read_text()
    assert "Partial parsing enabled" in dbt_log and "Unable to do partial parsing" not in dbt_log

    status = dict(_duckdb_query(copy)("select employee_id, status from marts.dim_employees"))
    assert status["E001"] == "terminated" and "E005" in status  # both only in the 04-01 partition
    scoped = (work / "target" / "run" / "vigil" / "models" / "marts" / "kpi" / "_kpi__models.yml").rglob("*.sql")
    assert {AFTER in p.read_text() for p in scoped} == {True}  # the key test checks the new slice

    # Without a date (no var, no VIGIL_RUN_DATE) dbt refuses to run, saying what is missing.
    env = {k: v for k, v in __import__("os").environ.items() if k != "VIGIL_RUN_DATE"}
    env.update(dbt_env(str(copy)))
    proc = subprocess.run(
        [dbt_runner.dbt_executable(), "run", "--select", "stg_hr__employees", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode != 0 and "the run date is required" in proc.stdout


# --------------------------------------------------------------------------- runner without dbt


def test_project_dir_is_the_repo_dbt_project():
    assert DBT_PROJECT_DIR == Path(dbt_runner.__file__).resolve().parents[3] / "dbt_project"
    assert (DBT_PROJECT_DIR / "dbt_project.yml").exists()
    assert (DBT_PROJECT_DIR / "profiles.yml").exists()


def test_dbt_env_duckdb(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dbt_env("wh.duckdb") == {"VIGIL_DBT_TARGET": "duckdb", "VIGIL_DUCKDB_PATH": str(tmp_path / "wh.duckdb")}
    assert dbt_env(str(tmp_path / "a.duckdb"))["VIGIL_DUCKDB_PATH"] == str(tmp_path / "a.duckdb")
    assert dbt_env(f"duckdb:///{tmp_path}/b.duckdb")["VIGIL_DUCKDB_PATH"] == str(tmp_path / "b.duckdb")
    with pytest.raises(ValueError):
        dbt_env(":memory:")
    with pytest.raises(ValueError):
        dbt_env("mysql://x@y/z")


def test_dbt_env_postgres():
    assert dbt_env("postgresql://alice:s%40cret@db.example:6543/vigil?sslmode=require") == {
        "VIGIL_DBT_TARGET": "postgres",
        "VIGIL_PG_HOST": "db.example",
        "VIGIL_PG_PORT": "6543",
        "VIGIL_PG_USER": "alice",
        "VIGIL_PG_PASSWORD": "s@cret",
        "VIGIL_PG_DBNAME": "vigil",
        "VIGIL_PG_SSLMODE": "require",
    }
    env = dbt_env("postgresql+psycopg://postgres@127.0.0.1/wh")
    assert env["VIGIL_PG_PORT"] == "5432" and env["VIGIL_PG_PASSWORD"] == "" and env["VIGIL_PG_DBNAME"] == "wh"
    assert dbt_env("postgres://bob@h/db")["VIGIL_PG_USER"] == "bob"


def _fake_dbt(tmp_path: Path, monkeypatch, body: str) -> Path:
    """Replace the dbt executable by a Python script; returns where it records its argv and env."""
    record = tmp_path / "fake_dbt_call.json"
    script = tmp_path / "fake_dbt"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "args = sys.argv[1:]\n"
        "target = Path(args[args.index('--target-path') + 1])\n"
        f"Path({str(record)!r}).write_text(json.dumps({{'args': args, 'env': dict(os.environ)}}))\n"
        + textwrap.dedent(body)
    )
    script.chmod(0o755)
    monkeypatch.setattr(dbt_runner, "dbt_executable", lambda: str(script))
    return record


def test_run_dbt_passes_project_paths_vars_and_env(tmp_path: Path, monkeypatch):
    record = _fake_dbt(
        tmp_path,
        monkeypatch,
        """
        (target / 'run_results.json').write_text(json.dumps({'results': [
            {'unique_id': 'model.vigil.dim_employees', 'status': 'success', 'execution_time': 0.5,
             'message': 'OK', 'failures': None},
            {'unique_id': 'test.vigil.not_null_x_y.abc123', 'status': 'warn', 'execution_time': 0.1,
             'message': 'Got 1 result', 'failures': 1}]}))
        """,
    )
    result = run_dbt(
        ["build", "--select", "marts"],
        warehouse="postgresql://u:pw@h:1/d",
        run_date=date(2024, 3, 31),
        work_dir=tmp_path / "w",
        extra_vars={"lookback_days": 30},
        threads=2,
    )
    call = json.loads(record.read_text())
    args = call["args"]
    assert args[:3] == ["build", "--select", "marts"]
    assert args[args.index("--project-dir") + 1] == str(DBT_PROJECT_DIR)
    assert args[args.index("--profiles-dir") + 1] == str(DBT_PROJECT_DIR)
    assert args[args.index("--target-path") + 1] == str((tmp_path / "w" / "target").resolve())
    assert args[args.index("--log-path") + 1] == str((tmp_path / "w" / "logs").resolve())
    assert json.loads(args[args.index("--vars") + 1]) == {"lookback_days": 30}
    # the date travels in the environment: --vars stays the same from one night to the next
    assert call["env"]["VIGIL_RUN_DATE"] == "2024-03-31" and "2024-03-31" not in " ".join(args)
    assert call["env"]["VIGIL_DBT_THREADS"] == "2"
    assert "pw" not in " ".join(args)  # the password travels in the environment only
    assert call["env"]["VIGIL_PG_PASSWORD"] == "pw" and call["env"]["VIGIL_DBT_TARGET"] == "postgres"
    assert result.success and result.returncode == 0
    assert [n.status for n in result.nodes] == ["success", "warn"]
    assert result.node("dim_employees").execution_time == 0.5
    assert result.node("not_null_x_y").failures == 1
    assert result.warned_nodes and not result.failed_nodes


def test_run_dbt_error_names_failed_nodes(tmp_path: Path, monkeypatch):
    _fake_dbt(
        tmp_path,
        monkeypatch,
        """
        (target / 'run_results.json').write_text(json.dumps({'results': [
            {'unique_id': 'model.vigil.stg_a', 'status': 'error', 'execution_time': 0.2,
             'message': 'Database Error: boom for user u:pw', 'failures': None},
            {'unique_id': 'test.vigil.unique_b_id.1', 'status': 'fail', 'execution_time': 0.1,
             'message': 'Got 2 results, configured to fail if != 0', 'failures': 2},
            {'unique_id': 'model.vigil.c', 'status': 'skipped', 'execution_time': 0, 'message': None,
             'failures': None}]}))
        sys.exit(1)
        """,
    )
    with pytest.raises(DbtError) as info:
        run_dbt(["build"], warehouse="postgresql://u:pw@h/d", run_date=RUN_DATE, work_dir=tmp_path / "w")
    msg = str(info.value)
    assert "model.vigil.stg_a [error]: Database Error: boom" in msg
    assert "test.vigil.unique_b_id.1 [fail]: Got 2 results" in msg
    assert "1 downstream node(s) skipped" in msg
    assert "pw" not in msg.replace("pwd", "")  # the password is redacted
    assert len(info.value.failed_nodes) == 2


def test_run_dbt_error_without_run_results_shows_output_tail(tmp_path: Path, monkeypatch):
    work = tmp_path / "w"
    (work / "target").mkdir(parents=True)
    (work / "target" / "run_results.json").write_text('{"results": []}')  # stale: must be ignored
    _fake_dbt(
        tmp_path,
        monkeypatch,
        """
        print('Running with dbt=fake')
        print('Could not connect as u with password s3cr3t-value')
        sys.exit(2)
        """,
    )
    with pytest.raises(DbtError) as info:
        run_dbt(["build"], warehouse="postgresql://u:s3cr3t-value@h/d", run_date=RUN_DATE, work_dir=work)
    msg = str(info.value)
    assert "exit code 2" in msg and "Could not connect" in msg
    assert "s3cr3t-value" not in msg and "s3cr3t-value" not in info.value.result.output
    assert info.value.result.nodes == []


def test_run_dbt_rejects_bad_arguments(tmp_path: Path):
    with pytest.raises(TypeError):
        run_dbt(["build"], warehouse="x.duckdb", run_date="2024-03-31", work_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        run_dbt(["build", "--vars", "{}"], warehouse="x.duckdb", run_date=RUN_DATE, work_dir=tmp_path)
    with pytest.raises(ValueError):
        run_dbt([], warehouse="x.duckdb", run_date=RUN_DATE, work_dir=tmp_path)


# --------------------------------------------------------------------------- project conventions


def _model_ymls() -> list[Path]:
    return sorted((DBT_PROJECT_DIR / "models").rglob("*.yml"))


def test_sources_match_the_feed_contract():
    sources = {}
    for path in _model_ymls():
        for src in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            assert path.name == f"_{src['name']}__sources.yml"
            for t in src["tables"]:
                sources[(src["name"], t["name"])] = t
    assert set(sources) == {(t.feed, t.name) for t in TABLES}
    for t in TABLES:
        s = sources[(t.feed, t.name)]
        assert s["identifier"] == t.raw_table
        expected = [c.warehouse_name for c in t.columns] + [
            "_feed_date", "_source_file", "_source_sha256", "_source_line", "_loaded_at", "_run_id"
        ]  # fmt: skip
        assert [c["name"] for c in s["columns"]] == expected, t.raw_table
        freshness = (s.get("config") or {}).get("freshness")
        if t.required:
            assert freshness["warn_after"] == {"count": 36, "period": "hour"}
            assert freshness["error_after"] == {"count": 72, "period": "hour"}
            assert s["config"]["loaded_at_field"] == "_loaded_at"
        else:
            assert freshness is None


def test_source_is_only_used_in_staging():
    for sql in (DBT_PROJECT_DIR / "models").rglob("*.sql"):
        uses_source = re.search(r"\bsource\(", sql.read_text()) is not None
        assert uses_source == (sql.parts[-3] == "staging"), sql


def test_every_model_is_documented_with_its_grain():
    sql_models = {p.stem for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    documented = {}
    for path in _model_ymls():
        for m in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            documented[m["name"]] = m.get("description", "")
            assert (path.parent / f"{m['name']}.sql").exists(), f"{m['name']} documented in {path} but not there"
    assert sql_models == set(documented)
    for name, description in documented.items():
        assert "One row per" in description, name


@pytest.mark.parametrize("warned", [0, 1, 2])
def test_the_build_line_never_counts_a_warned_test_as_passed(warned: int):
    """'383 tests passed' when 2 warned was a lie: warned tests are counted, and named, apart."""
    from vigil.build.dbt_runner import DbtNodeResult
    from vigil.pipeline import describe_build

    nodes = [DbtNodeResult("model.vigil.dim_a", "success", 0.1, None, None),
             *[DbtNodeResult(f"test.vigil.ok_{i}.x", "pass", 0.1, None, 0) for i in range(5 - warned)],
             *[DbtNodeResult(f"test.vigil.warn_{i}.x", "warn", 0.1, "Got 2 results, configured to warn if != 0", 2)
               for i in range(warned)]]
    result = DbtResult(["build"], True, 0, nodes, 1.0, Path("t"), Path("l"))
    counts = result.test_counts()
    assert counts == {"passed": 5 - warned, "warned": warned, "failed": 0, "skipped": 0}
    line = describe_build({"models": 1, "tests_passed": counts["passed"], "tests_warned": counts["warned"],
                           "tests_skipped": 0, "full_refresh": False, "build_plan": "incremental"})
    assert line == f"1 models, {5 - warned} tests passed" + (f", {warned} warned" if warned else "") + \
        " (incremental: incremental)"
