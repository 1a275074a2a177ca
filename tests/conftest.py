"""Shared fixtures: an isolated Airflow home, fresh PostgreSQL databases, small valid landing nights."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Airflow reads its configuration at import time: isolate it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="vigil-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.pop("VIGIL_PSEUDONYMISATION_KEY", None)  # each test states the key it uses

TEST_KEY = b"test-key-0123456789abcdef0123456789abcdef"
PG_ADMIN_DSN = os.environ.get("VIGIL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def settings(tmp_path):
    from vigil.config import Settings

    return Settings(
        landing=str(tmp_path / "landing"),
        warehouse=str(tmp_path / "warehouse" / "vigil.duckdb"),
        out=tmp_path / "out",
        mode="production",
        pseudonymisation_key=TEST_KEY,
        duckdb_memory_limit="1GB",
        create_warehouse=True,  # each test starts its own warehouse, on purpose
    )


@contextlib.contextmanager
def fresh_database(prefix: str = "vigil_test"):
    """A fresh PostgreSQL database on the local server (URL without driver), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    with fresh_database() as url:
        yield url


# --------------------------------------------------------------------------- a small valid night

D = dt.date(2026, 3, 2)

MINIMAL_NIGHT: dict[str, dict[str, list[dict]]] = {
    "hr": {
        "employees": [
            dict(employee_id="000101", full_name="Anna Smith", national_id="AB123456C", email="anna@bank.test",
                 department="Payments", position="Clerk", manager_id="000103", employment_type="permanent",
                 hire_date="2019-04-01", status="active"),
            dict(employee_id="000102", full_name="Bo Chen", national_id="CANARY-NID-9001", email="bo@bank.test",
                 department="Private Banking", position="Relationship Manager", manager_id="000103",
                 employment_type="fixed_term", hire_date="2021-01-04", contract_end_date="2026-04-30",
                 status="terminated", notice_date="2026-02-01", termination_date="2026-02-27",
                 termination_reason="resignation"),
            dict(employee_id="000103", full_name="Cai Wen", national_id="EF 345-678", email="cai@bank.test",
                 department="Payments", position="Head of Payments", employment_type="permanent",
                 hire_date="2015-09-01", status="active"),
        ],
        "performance": [dict(employee_id="000101", period_end="2025-12-31", rating="4")],
        "job_changes": [],
        "assets": [dict(asset_id="A1", employee_id="000102", asset_type="laptop", issued_date="2021-01-04")],
    },
    "iam": {
        "accounts": [
            dict(account_id="u101", system="AD", username="asmith", employee_id="000101", status="enabled",
                 is_privileged="false", created_at="2019-04-01T08:00:00Z", last_login_at="2026-03-02T08:00:00Z"),
            dict(account_id="u102", system="Payments", username="bchen", employee_id="000102", status="enabled",
                 is_privileged="true", created_at="2021-01-04T08:00:00+01:00", last_login_at="2026-02-26T17:00:00Z"),
        ],
        "entitlements": [
            dict(system="AD", account_id="u101", entitlement="staff", is_privileged="false", granted_at="2019-04-01T08:00:00Z"),
            dict(system="Payments", account_id="u102", entitlement="payment_approve", is_privileged="true",
                 granted_at="2021-01-04T08:00:00Z"),
        ],
        "logins": [dict(system="AD", account_id="u101", login_at="2026-03-02T08:00:00Z", outcome="success")],
    },
    "crm": {
        "clients": [
            dict(client_id="C01", client_name="Acme Ltd", segment="corporate", rm_employee_id="000102",
                 status="active", opened_date="2020-01-01", aum="1500000.50"),
        ],
        "rm_assignments": [dict(client_id="C01", rm_employee_id="000102", start_date="2021-01-04")],
    },
    "complaints": {
        "complaints": [
            dict(complaint_id="K1", complainant_id="P1", received_at="2026-03-01T10:00:00Z",
                 updated_at="2026-03-01T10:00:00Z", channel="phone", category="fees", product="current account",
                 branch_id="B001", status="open", escalated_externally="false", amount="25.00"),
        ],
        "complainants": [
            dict(complainant_id="P1", full_name="Dee Ray", national_id="CANARY-NID-9002", phone="+44 7700 900123",
                 client_id="C01", insider_link="false"),
        ],
    },
}


def minimal_night_as_of(date: dt.date) -> dict:
    """MINIMAL_NIGHT moved in time so that it describes `date` (every date shifts by the same days)."""
    import copy
    import re

    shift = date - D
    iso = re.compile(r"^(\d{4}-\d{2}-\d{2})(.*)$")

    def move(value: str) -> str:
        m = iso.match(value)
        return (dt.date.fromisoformat(m.group(1)) + shift).isoformat() + m.group(2) if m else value

    data = copy.deepcopy(MINIMAL_NIGHT)
    for tables in data.values():
        for rows in tables.values():
            for row in rows:
                row.update({k: move(v) for k, v in row.items()})
    return data


def raw_pii_values(landing: Path, min_length: int = 5) -> set[str]:
    """Every name, national ID, phone and e-mail the feeds under `landing` delivered, as the bank sent
    them (values shorter than `min_length` are left out: they would match by chance)."""
    from vigil.transforms.contract import TABLES

    values: set[str] = set()
    for t in TABLES:
        pii = [c.name for c in t.columns if c.pii]
        for path in landing.glob(f"{t.feed}/*/{t.name}.csv") if pii else ():
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    values.update(row[c] for c in pii if row.get(c) and len(row[c]) >= min_length)
    return values


def write_csv(path: Path, columns: list[str], rows: list[dict], *, newline: str = "\n", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh, lineterminator=newline)
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])
    return path


def write_night(landing: Path, date: dt.date = D, data: dict | None = None, feeds: tuple[str, ...] | None = None) -> Path:
    """Write a complete, valid night (the minimal dataset unless `data` says otherwise)."""
    from vigil.transforms.contract import table

    data = data or MINIMAL_NIGHT
    for feed, tables in data.items():
        if feeds and feed not in feeds:
            continue
        for name, rows in tables.items():
            t = table(feed, name)
            write_csv(Path(landing) / feed / date.isoformat() / f"{name}.csv", list(t.column_names), rows)
    return Path(landing)


@pytest.fixture
def night(settings) -> Path:
    """A valid minimal night for D in the settings' landing directory."""
    return write_night(Path(settings.landing))


def copy_raw_layer(duck_path: str, pg_url: str) -> None:
    """Copy every raw table of a DuckDB warehouse into a PostgreSQL database (same DDL, same rows)."""
    import duckdb
    import psycopg

    from vigil.transforms.contract import TABLES, raw_table_ddl

    src = duckdb.connect(duck_path, read_only=True)
    try:
        with psycopg.connect(pg_url, autocommit=True) as pg:
            pg.execute("CREATE SCHEMA IF NOT EXISTS raw")
            for t in TABLES:
                pg.execute(raw_table_ddl(t))
                cur = src.execute(f"SELECT * FROM raw.{t.raw_table}")
                cols = [c[0] for c in cur.description]
                rows = cur.fetchall()
                if rows:
                    with pg.cursor() as c:
                        c.executemany(f"INSERT INTO raw.{t.raw_table} ({', '.join(cols)}) "
                                      f"VALUES ({', '.join(['%s'] * len(cols))})", rows)
    finally:
        src.close()


# --------------------------------------------------------------------------- demo warehouse

DEMO_START = dt.date(2026, 3, 2)  # a Monday
DEMO_DAYS = 5


class DemoWarehouse:
    """Tiny demo feeds, every night run in order on DuckDB: what tests of the models read."""

    def __init__(self, settings, start: dt.date, days: int):
        import json

        self.settings, self.start, self.days = settings, start, days
        self.held: list[dt.date] = []  # nights a circuit breaker held until the fixture approved them
        self.last = start + dt.timedelta(days=days - 1)
        self.landing = Path(settings.landing)
        self.planted = json.loads((self.landing / "_demo" / "planted.json").read_text())

    def query(self, sql: str, params=()) -> list[tuple]:
        import duckdb

        con = duckdb.connect(self.settings.warehouse, read_only=True)
        try:
            return con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def cases(self, name: str) -> list[dict]:
        return self.planted["cases"][name]

    def rows(self, sql: str) -> list[dict]:
        """Query results as dicts (UTC session, so timestamps read as the warehouse stores them)."""
        import duckdb

        con = duckdb.connect(self.settings.warehouse, read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            cur = con.execute(sql)
            names = [c[0] for c in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            con.close()


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> DemoWarehouse:
    from vigil.config import Settings
    from vigil.demo import generate
    from vigil.pipeline import run_nightly

    base = tmp_path_factory.mktemp("demo-warehouse")
    generate(base / "landing", DEMO_START, DEMO_DAYS, scale="tiny", seed=7)
    s = Settings(
        landing=str(base / "landing"), warehouse=str(base / "warehouse" / "vigil.duckdb"), out=base / "out",
        mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB", create_warehouse=True,
    )
    demo = DemoWarehouse(s, DEMO_START, DEMO_DAYS)
    for i in range(DEMO_DAYS):
        day = DEMO_START + dt.timedelta(days=i)
        summary = run_nightly(s, day, actions=DEMO_ACTIONS)
        if summary.status == "held":
            # The first night finds the demo's backlog of leavers at once, as a first production night
            # would: a person reviews and approves it, then the night runs again.
            approve_held_night(s, day)
            demo.held.append(day)
            summary = run_nightly(s, day, actions=DEMO_ACTIONS)
        assert summary.ok, summary.error
    return demo


DEMO_ACTIONS = False


def approve_held_night(settings, day: dt.date) -> None:
    from vigil.breakers import approve

    approve(settings.warehouse, day, reason="test fixture: the demo's backlog of leavers, reviewed", by="fixture")
