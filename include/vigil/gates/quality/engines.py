"""GX datasources that validate correctly on Vigil's two warehouses. Imports great_expectations:
import this module only inside functions that are about to validate (it costs seconds).

PostgreSQL: GX's own SQL datasource (``add_postgres``) over psycopg 3, unchanged.

DuckDB: GX's SQL datasource through duckdb-engine returns *empty results*: GX executes a query in
``with engine.connect() as c: result = c.execute(q)`` and fetches after the block, when the
connection has gone back to the pool and DuckDB (whose DBAPI cursor is the connection itself) has
dropped the pending result. ``VigilDuckDBDatasource`` (type ``vigil_duckdb``) runs the same GX SQL
execution engine with one persistent connection, the way GX itself treats SQLite and BigQuery, so
every result is fetched before the next statement runs on it. It also tells GX what duckdb-engine is:
a PostgreSQL-derived dialect (DuckDB has PostgreSQL's ``~`` regex operator, so the regex
expectations compile to the same SQL as on PostgreSQL) whose reflected column types are SQLAlchemy's
generic ones (String, Integer, ...), under the type names the suites use (PostgreSQL's: VARCHAR, NUMERIC(18, 2), TIMESTAMP WITH TIME ZONE, ...).
Everything else — metrics, SQL generation, results — is stock GX.
"""

from __future__ import annotations

import atexit
import contextlib
import types
from typing import Literal, Type

import sqlalchemy as sa
from great_expectations.compatibility.typing_extensions import override
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

from vigil.config import WarehouseUrl


def _release_duckdb_at_exit() -> None:
    """Free DuckDB's Python objects before the interpreter tears down.

    With Great Expectations and duckdb-engine in one process, duckdb's modules outlive Python's
    module teardown, and its bindings then print pages of "nanobind: leaked N instances/types/
    functions" at exit (Airflow's `dags test`, pytest, any process that ran a DuckDB gate). Emptying
    SQLAlchemy's per-dialect type memos, closing dbt-duckdb's connections and emptying duckdb's own
    modules (the type constants, functions and connection class they hold) lets every object be
    freed while the interpreter still runs.
    Registered once, when the first gate imports this module; by then nothing uses DuckDB again."""
    import gc
    import sys

    # SQLAlchemy memoises result processors per DBAPI type code, and duckdb-engine's type codes are
    # DuckDB type objects: empty those memos of every DuckDB dialect (GX's engines keep theirs).
    # (type(), not isinstance(): a lazy proxy, such as Airflow's, would import on __class__)
    for obj in gc.get_objects():
        if sa.engine.Dialect in type(obj).__mro__ and type(obj).name == "duckdb":
            with contextlib.suppress(Exception):
                obj._type_memos.clear()
    dbt_duckdb = sys.modules.get("dbt.adapters.duckdb.connections")
    if dbt_duckdb is not None:
        with contextlib.suppress(Exception):
            dbt_duckdb.DuckDBConnectionManager.close_all_connections()
    for name in list(sys.modules):
        if name.split(".")[0] in ("duckdb", "_duckdb", "duckdb_engine"):
            with contextlib.suppress(Exception):
                vars(sys.modules[name]).clear()
    gc.collect()


atexit.register(_release_duckdb_at_exit)


def _duckdb_type_module() -> types.ModuleType:
    import duckdb_engine

    mod = types.ModuleType("vigil_duckdb_types")
    mod.dialect = duckdb_engine.Dialect  # a PGDialect subclass: GX picks the `~` regex operator
    for name, cls in {
        "VARCHAR": sa.String, "TEXT": sa.String, "String": sa.String,
        "INTEGER": sa.Integer, "Integer": sa.Integer, "BIGINT": sa.BigInteger, "BigInteger": sa.BigInteger,
        "SMALLINT": sa.SmallInteger, "NUMERIC": sa.Numeric, "DECIMAL": sa.Numeric, "Numeric": sa.Numeric,
        "DOUBLE": sa.Float, "FLOAT": sa.Float, "Float": sa.Float,
        "NUMERIC(18, 2)": sa.Numeric,
        "DATE": sa.Date, "Date": sa.Date, "TIMESTAMP": sa.DateTime, "DateTime": sa.DateTime,
        # duckdb-engine reflects TIMESTAMPTZ as a plain TIMESTAMP: the time zone is not visible here
        "TIMESTAMP WITH TIME ZONE": sa.DateTime,
        "BOOLEAN": sa.Boolean, "Boolean": sa.Boolean,
    }.items():
        setattr(mod, name, cls)
    return mod


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """GX's SQL execution engine on one persistent DuckDB connection (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dialect_module = _duckdb_type_module()

    @override
    @contextlib.contextmanager
    def get_connection(self):
        if not self._connection:
            self._connection = self.engine.connect()
        yield self._connection

    @override
    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        self.engine.dispose()


class VigilDuckDBDatasource(SQLDatasource):
    """``context.data_sources.add_vigil_duckdb(name, connection_string="duckdb:///path", kwargs=...)``."""

    type: Literal["vigil_duckdb"] = "vigil_duckdb"  # type: ignore[assignment]

    @property
    @override
    def execution_engine_type(self) -> Type[SqlAlchemyExecutionEngine]:
        return DuckDBExecutionEngine


def add_datasource(context, name: str, warehouse_url: str, *, memory_limit: str = "2GB", threads: int | None = None):
    """A GX datasource for a Vigil warehouse (DuckDB file path or postgresql:// URL).

    DuckDB is opened read-only: validation never writes, and the file stays one writer's.
    """
    where = WarehouseUrl.parse(warehouse_url)
    if where.is_postgres:
        return context.data_sources.add_postgres(name, connection_string=where.sqlalchemy_url)
    try:
        import duckdb_engine  # noqa: F401 - the SQLAlchemy dialect GX needs for DuckDB
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise RuntimeError("the DuckDB quality gate needs the package duckdb-engine (see requirements.lock)") from exc
    config = {"memory_limit": memory_limit}
    if threads:
        config["threads"] = int(threads)
    return context.data_sources.add_vigil_duckdb(
        name,
        connection_string=where.sqlalchemy_url,
        kwargs={"connect_args": {"read_only": True, "config": config}},
    )
