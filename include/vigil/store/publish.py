"""Publish: the last step of write → audit → publish.

dbt builds the publish models into `publish_candidate`. Only after the night's gates pass are they
copied into `publish`, which is all that tickets, alerts and review packs ever read. The copy runs
in one transaction, so readers see last night's tables or tonight's, never a mix; a night that
fails its gates never reaches this step and `publish` stays exactly as it was.

Rows are replaced inside the existing tables (DELETE + INSERT) rather than by swapping schemas, so
table identity and the grants of the least-privilege roles survive every night.
"""

from __future__ import annotations

import logging

from vigil.store.warehouse import Warehouse
from vigil.store.ddl import needs_ddl

log = logging.getLogger(__name__)

CANDIDATE_SCHEMA = "publish_candidate"
PUBLISH_SCHEMA = "publish"


def _columns(wh: Warehouse, con, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (name, dtype)
        for name, dtype in wh.fetchall(
            con,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
    ]


def candidate_tables(wh: Warehouse, con) -> list[str]:
    return [name.split(".", 1)[1] for name in wh.list_tables(con, (CANDIDATE_SCHEMA,))]


def publish(warehouse_url: str) -> dict[str, int]:
    """Copy every candidate table into `publish` in one transaction; returns rows per table."""
    wh = Warehouse.open(warehouse_url)
    published: dict[str, int] = {}
    with wh.transaction() as con:
        if needs_ddl(con, PUBLISH_SCHEMA):  # else made by vigil.store.roles: a least-privilege role runs no DDL
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {PUBLISH_SCHEMA}")
        tables = candidate_tables(wh, con)
        if not tables:
            raise RuntimeError(f"nothing to publish: schema {CANDIDATE_SCHEMA} has no tables (did dbt build run?)")
        for table in tables:
            source, target = f"{CANDIDATE_SCHEMA}.{table}", f"{PUBLISH_SCHEMA}.{table}"
            wanted = _columns(wh, con, CANDIDATE_SCHEMA, table)
            existing = _columns(wh, con, PUBLISH_SCHEMA, table)
            if existing and existing != wanted:
                # The model's contract changed (a new release): recreate, once, with the new shape.
                log.info("publish: %s changed shape; recreating it", target)
                con.execute(f"DROP TABLE {target}")
                existing = []
            if not existing:
                con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source} WHERE 1 = 0")
            con.execute(f"DELETE FROM {target}")
            con.execute(f"INSERT INTO {target} SELECT * FROM {source}")
            published[table] = wh.fetchall(con, f"SELECT count(*) FROM {target}")[0][0]
    if wh.is_postgres:
        # Fresh planner statistics before tonight's readers (tickets, alerts) join these tables:
        # without them a 300-row x 900k-row join was planned as a nested loop (34 s, docs/benchmarks.md).
        with wh.connection() as con:
            for table in published:
                con.execute(f"ANALYZE {PUBLISH_SCHEMA}.{table}")
    return published
