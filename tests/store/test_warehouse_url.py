"""One parser of warehouse URLs (vigil.config.WarehouseUrl), and everything that reads a URL uses it:
Settings, the warehouse, dbt's environment, the roles tool and the quality gate's datasource."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.build.dbt_runner import dbt_env
from vigil.config import ConfigError, Settings, WarehouseUrl
from vigil.store.warehouse import Warehouse


@pytest.mark.parametrize("text, path", [
    ("warehouse/vigil.duckdb", "warehouse/vigil.duckdb"),       # a relative path
    ("/data/vigil.duckdb", "/data/vigil.duckdb"),               # an absolute path
    ("  /data/vigil.duckdb\n", "/data/vigil.duckdb"),           # stray whitespace from an env file
    ("vigil", "vigil"),                                         # any file name, no suffix needed
    ("duckdb:///relative.db", "relative.db"),                   # SQLAlchemy's form: three slashes, relative
    ("duckdb:////data/abs.db", "/data/abs.db"),                 # four slashes: absolute
    ("DuckDB:///x.db", "x.db"),                                 # schemes are case-insensitive
])
def test_a_path_or_a_duckdb_url_is_duckdb(text, path):
    url = WarehouseUrl.parse(text)
    assert (url.kind, url.path, url.dsn, url.is_postgres) == ("duckdb", Path(path), None, False)


@pytest.mark.parametrize("text, dsn", [
    ("postgresql://u:p@db:5432/vigil", "postgresql://u:p@db:5432/vigil"),
    ("postgres://u@db/vigil", "postgresql://u@db/vigil"),                      # libpq's short scheme
    ("postgresql+psycopg://u@db/vigil", "postgresql://u@db/vigil"),            # SQLAlchemy driver suffix dropped
    ("postgres+psycopg2://u@db/vigil?sslmode=require", "postgresql://u@db/vigil?sslmode=require"),
    ("PostgreSQL://u@db/vigil", "postgresql://u@db/vigil"),
])
def test_postgresql_and_postgres_with_or_without_a_driver_are_postgres(text, dsn):
    url = WarehouseUrl.parse(text)
    assert (url.kind, url.dsn, url.path, url.is_postgres) == ("postgres", dsn, None, True)
    assert url.sqlalchemy_url == "postgresql+psycopg://" + dsn.split("://", 1)[1]


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("   ", "empty"),
    ("mysql://u@db/vigil", "'mysql'"),
    ("sqlite:///x.db", "'sqlite'"),
    ("postgresqlx://u@db/vigil", "'postgresqlx'"),  # a near miss is no PostgreSQL URL
    ("http://db/vigil", "'http'"),
    ("duckdb://", "names no file"),
    ("duckdb:///", "names no file"),
])
def test_anything_else_is_one_config_error(text, says):
    with pytest.raises(ConfigError, match=says) as caught:
        WarehouseUrl.parse(text)
    assert "\n" not in str(caught.value)


def test_the_display_form_hides_a_password_only():
    assert WarehouseUrl.parse("postgresql://alice:s3cret@db/vigil").display == "postgresql://alice:***@db/vigil"
    assert WarehouseUrl.parse("postgresql://alice@db/vigil").display == "postgresql://alice@db/vigil"
    assert WarehouseUrl.parse("/data/vigil.duckdb").display == "/data/vigil.duckdb"


def test_every_reader_of_the_url_agrees(tmp_path):
    path = tmp_path / "wh.duckdb"
    for text in (str(path), f"duckdb:///{path}"):
        wh = Warehouse.open(text)
        assert (wh.kind, wh.is_postgres, Path(wh.url)) == ("duckdb", False, path)
        assert dbt_env(text)["VIGIL_DUCKDB_PATH"] == str(path)
        assert Settings(warehouse=text).warehouse_is_postgres is False
    for text in ("postgres://u@db/vigil", "postgresql+psycopg://u@db/vigil"):
        wh = Warehouse.open(text)
        assert (wh.kind, wh.is_postgres, wh.dsn) == ("postgres", True, "postgresql://u@db/vigil")
        assert dbt_env(text)["VIGIL_PG_HOST"] == "db"
        assert Settings(warehouse=text).warehouse_is_postgres is True
    for bad in ("mysql://u@db/vigil", ""):
        with pytest.raises(ConfigError):
            Warehouse.open(bad)
        with pytest.raises(ValueError):  # dbt_env's own contract: a ValueError with the parser's message
            dbt_env(bad)


def test_the_row_readers_on_duckdb(tmp_path):
    wh = Warehouse.open(str(tmp_path / "wh.duckdb"))
    with wh.transaction() as con:
        con.execute("CREATE TABLE t (id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    with wh.connection() as con:
        assert wh.fetchall(con, "SELECT id, name FROM t ORDER BY id") == [(1, "a"), (2, "b")]
        assert wh.rows(con, "SELECT id, name FROM t WHERE id > %s ORDER BY id", (0,)) == [
            {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
        assert wh.rows(con, "SELECT id FROM t WHERE id > %s", (2,)) == []
        assert wh.scalar(con, "SELECT count(*) FROM t WHERE id >= %s", (2,)) == 1
        assert wh.scalar(con, "SELECT id FROM t WHERE id > %s", (2,)) is None  # no row


def test_the_row_readers_on_postgresql(pg_url):
    wh = Warehouse.open(pg_url)
    assert wh.kind == "postgres"
    with wh.transaction() as con:
        con.execute("CREATE TABLE t (id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    with wh.connection() as con:
        assert wh.fetchall(con, "SELECT id, name FROM t ORDER BY id") == [(1, "a"), (2, "b")]
        assert wh.rows(con, "SELECT id, name FROM t WHERE id > %s ORDER BY id", (1,)) == [{"id": 2, "name": "b"}]
        assert wh.scalar(con, "SELECT count(*) FROM t") == 2
        assert wh.scalar(con, "SELECT id FROM t WHERE id > %s", (2,)) is None


def test_settings_refuse_an_unknown_warehouse_url_before_anything_runs():
    with pytest.raises(ConfigError, match="'mysql'"):
        Settings.from_env({"VIGIL_WAREHOUSE": "mysql://u@db/vigil"})
    assert Settings.from_env({"VIGIL_WAREHOUSE": "duckdb:///x.duckdb"}).warehouse_url.path == Path("x.duckdb")


def test_the_cli_says_so_in_one_line(tmp_path, capsys):
    from vigil.cli import main

    code = main(["status", "--warehouse", "mysql://u@db/vigil"])
    out = capsys.readouterr()
    assert code != 0
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "mysql" in lines[0] and "Traceback" not in out.err + out.out
