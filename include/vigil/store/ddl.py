"""DDL helpers every layer that owns tables uses (the raw layer, the audit log, gates, alerts, tickets).

They sit low in the store layer and import nothing of Vigil, so the modules owning tables and the
migrations tool that creates them all (vigil.store.roles) can use them without importing each other.
"""

from __future__ import annotations


def needs_ddl(con, *objects: str) -> bool:
    """Should a step run its idempotent ``CREATE ... IF NOT EXISTS`` DDL for these objects?

    ``objects``: relations as ``schema.name`` (tables, views, indexes) or bare schema names. Always
    True on DuckDB (one file, no roles). On PostgreSQL only when one of them is missing:
    PostgreSQL checks the privilege to create *before* it looks whether the object exists, so a
    least-privilege role's no-op ``CREATE SCHEMA IF NOT EXISTS`` fails. Once the migration has
    created them, a step skips its DDL and needs no more than its DML grants; a missing object
    (a release added a table: rerun ``python -m vigil.store.roles``) still runs the DDL, which then says
    what is missing.
    """
    if not type(con).__module__.startswith("psycopg"):
        return True
    relations = [o for o in objects if "." in o]
    schemas = [o for o in objects if "." not in o]
    return bool(con.execute(
        "SELECT EXISTS (SELECT 1 FROM unnest(%s::text[]) AS r(name) WHERE to_regclass(r.name) IS NULL) "
        "OR EXISTS (SELECT 1 FROM unnest(%s::text[]) AS s(name) WHERE to_regnamespace(s.name) IS NULL)",
        (relations, schemas)).fetchall()[0][0])
