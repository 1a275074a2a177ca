"""Real PostgreSQL: pulling feeds through a SQL source, and loading the raw layer of a PG warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
import yaml

from fixtures.nights import D, MINIMAL_NIGHT, TEST_KEY
from vigil.pipeline import extract_feed, load_feed
from vigil.ingest.contract import TABLES_BY_FEED, table
from vigil.ingest.pseudonymise import token
from vigil.ingest.reader import FeedError
from vigil.store.warehouse import Warehouse

pytestmark = pytest.mark.postgres

_PG_TYPES = {"text": "text", "date": "date", "timestamp": "timestamptz", "boolean": "boolean",
             "integer": "integer", "decimal": "numeric(18,2)"}


def _make_source(pg_url: str, rows_by_table: dict) -> dict:
    """A bank-side schema: one table per contract table plus a feed_date column; returns the queries."""
    queries: dict[str, dict[str, str]] = {}
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE SCHEMA src")
        for feed, tables in rows_by_table.items():
            for name, rows in tables.items():
                t = table(feed, name)
                cols = ", ".join(f"{c.name} {_PG_TYPES[c.type]}" for c in t.columns)
                con.execute(f"CREATE TABLE src.{feed}_{name} (feed_date date, {cols})")
                for r in rows:
                    names = ["feed_date"] + [c for c in t.column_names if r.get(c, "") != ""]
                    values = [D] + [r[c] for c in names[1:]]
                    con.execute(
                        f"INSERT INTO src.{feed}_{name} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                        values,
                    )
                column_list = ", ".join(t.column_names)
                queries.setdefault(feed, {})[name] = (
                    f"SELECT {column_list} FROM src.{feed}_{name} WHERE feed_date = :feed_date"
                )
    return queries


def test_sql_source_pulls_every_feed_from_postgres(settings, pg_url, tmp_path):
    queries = _make_source(pg_url, MINIMAL_NIGHT)
    qfile = tmp_path / "queries.yml"
    qfile.write_text(yaml.safe_dump(queries))
    s = settings.with_(source="sql", source_url=pg_url.replace("postgresql://", "postgresql+psycopg://"), source_queries=qfile)
    for feed in TABLES_BY_FEED:
        out = extract_feed(s, feed, D, "sql-run")
        got = {t["table"]: t["rows"] for t in out["tables"]}
        assert got == {name: len(rows) for name, rows in MINIMAL_NIGHT.get(feed, {}).items()}  # cases: optional, not sent
    # the raw extract (with PII) does not outlive the step; the staged file holds tokens
    assert not (Path(s.out) / "work" / D.isoformat() / "extract" / "hr").exists()
    staged = Path(s.out) / "work" / D.isoformat() / "staged" / "hr" / "employees.parquet"
    import duckdb

    rows = duckdb.sql(f"SELECT employee_id, national_id_token, termination_date FROM '{staged}' ORDER BY 1").fetchall()
    assert rows[0] == ("000101", token(TEST_KEY, "AB123456C"), None)
    assert rows[1][2] == dt.date(2026, 2, 27)


def test_sql_source_returning_no_rows_for_a_snapshot_is_a_source_error(settings, pg_url, tmp_path):
    queries = _make_source(pg_url, {"hr": MINIMAL_NIGHT["hr"]})
    qfile = tmp_path / "queries.yml"
    qfile.write_text(yaml.safe_dump(queries))
    s = settings.with_(source="sql", source_url=pg_url, source_queries=qfile)
    with pytest.raises(FeedError, match="header-only"):
        extract_feed(s, "hr", D + dt.timedelta(days=1), "sql-run")  # nothing for that date


def test_postgres_warehouse_partition_load_is_idempotent(settings, night, pg_url):
    s = settings.with_(warehouse=pg_url)
    for feed in TABLES_BY_FEED:
        load_feed(s, extract_feed(s, feed, D, "pg-run"))
    wh = Warehouse.open(pg_url)
    first = wh.table_checksums(("raw",))
    assert first["raw.hr__employees"][0] == 3 and first["raw.iam__entitlements"][0] == 2
    for feed in TABLES_BY_FEED:
        load_feed(s, extract_feed(s, feed, D, "pg-run-2"))
    assert wh.table_checksums(("raw",)) == first
    with psycopg.connect(pg_url) as con:
        row = con.execute(
            "SELECT employee_id, hire_date, termination_date, _source_line, _feed_date FROM raw.hr__employees "
            "WHERE employee_id = '000102'").fetchone()
        aum = con.execute("SELECT aum FROM raw.crm__clients").fetchone()[0]
        ts = con.execute("SELECT created_at FROM raw.iam__accounts WHERE account_id = 'u102'").fetchone()[0]
    assert row == ("000102", dt.date(2021, 1, 4), dt.date(2026, 2, 27), 3, D)
    assert str(aum) == "1500000.50"
    assert ts == dt.datetime(2021, 1, 4, 7, 0, tzinfo=dt.timezone.utc)  # +01:00 kept as the same instant
