"""When may tonight's dbt build extend last night's incremental models instead of rebuilding them?

The history-wide models (the latest version of every complaint and complainant, the history of
every account, every account's last logins and every login instant) fold each night's new raw
partitions into what they already hold, so a night costs what it delivered, not everything ever
delivered. That is only right when what they hold is what a
full rebuild would hold. ``plan_build`` allows the incremental build only when all of these hold,
and asks for ``--full-refresh`` (with the reason) otherwise:

* the last build finished (a build that failed half-way may have folded in part of a night);
* it was not for a later date (a backfill rebuilds: the models must not see the future);
* the raw partitions it saw are unchanged: the load ledger's (feed, table, date, sha256) for every
  date up to the last build's date hashes the same as when that build started (a reloaded or
  corrected earlier night rebuilds, and so does a rerun that came with corrected files). A rerun of
  the same night with the same files (a held night released, a retried task) folds nothing new and
  leaves the incremental models as they are;
* the dbt project (models, macros, seeds, dbt_project.yml) and the extra vars are the same (new
  rules rebuild what the old ones folded).

The builds are recorded in ``intermediate._vigil_dbt_builds`` (owned by the role that runs dbt).
The history tables that keep one slice per night (``full_refresh=false`` in their config) are not
affected by ``--full-refresh``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from vigil.store.warehouse import LEDGER, Warehouse

STATE_TABLE = "intermediate._vigil_dbt_builds"
STATE_DDL = f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    build_id VARCHAR NOT NULL PRIMARY KEY,
    run_date DATE NOT NULL,
    project_fingerprint VARCHAR NOT NULL,
    raw_fingerprint VARCHAR NOT NULL,
    full_refresh BOOLEAN NOT NULL,
    reason VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
)"""

#: What the project fingerprint covers (relative to the dbt project directory).
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "tests")


@dataclass(frozen=True)
class BuildPlan:
    full_refresh: bool
    reason: str
    project_fingerprint: str
    raw_fingerprint: str


def project_fingerprint(project_dir: Path, extra_vars: dict | None = None) -> str:
    """sha256 over every file of the dbt project that shapes a model, and the extra vars."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        root = project_dir / part
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root] if root.exists() else []
        for path in files:
            digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(extra_vars or {}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def raw_fingerprint(wh: Warehouse, con, through: dt.date) -> str:
    """sha256 of the load ledger's rows for every partition dated on or before ``through``."""
    rows = wh.fetchall(
        con,
        f"SELECT feed, table_name, feed_date, source_sha256 FROM {LEDGER} WHERE feed_date <= %s "
        f"ORDER BY feed, table_name, feed_date",
        (through,),
    )
    digest = hashlib.sha256()
    for feed, table, feed_date, sha in rows:
        digest.update(f"{feed}\t{table}\t{feed_date}\t{sha}\n".encode())
    return digest.hexdigest()


def _last_build(wh: Warehouse, con) -> tuple | None:
    rows = wh.fetchall(
        con,
        f"SELECT run_date, project_fingerprint, raw_fingerprint, finished_at FROM {STATE_TABLE} "
        f"ORDER BY started_at DESC LIMIT 1",
    )
    return rows[0] if rows else None


def plan_build(wh: Warehouse, run_date: dt.date, project_fp: str) -> BuildPlan:
    """Incremental or full refresh for a build as of ``run_date``, and why (see the module doc)."""
    with wh.transaction() as con:
        # Checked first: PostgreSQL wants CREATE on the database even for CREATE SCHEMA IF NOT EXISTS,
        # and the transformer role only owns the schema (include/vigil/store/migrations/001_roles.sql).
        if not wh.fetchall(con, "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'intermediate'"):
            con.execute("CREATE SCHEMA intermediate")
        con.execute(STATE_DDL)
        last = _last_build(wh, con)
        raw_fp_tonight = raw_fingerprint(wh, con, run_date)

        def plan(full: bool, reason: str) -> BuildPlan:
            return BuildPlan(full, reason, project_fp, raw_fp_tonight)

        if last is None:
            return plan(True, "first build")
        last_date, last_project_fp, last_raw_fp, finished_at = last
        last_date = last_date if isinstance(last_date, dt.date) else dt.date.fromisoformat(str(last_date))
        if finished_at is None:
            return plan(True, f"the build for {last_date} did not finish")
        if run_date < last_date:
            return plan(True, f"{run_date} is before the last build's date {last_date} (backfill)")
        if last_project_fp != project_fp:
            return plan(True, "the dbt project or its vars changed since the last build")
        if raw_fingerprint(wh, con, last_date) != last_raw_fp:
            return plan(True, f"raw partitions on or before {last_date} were reloaded since the last build")
        if run_date == last_date:
            return plan(False, f"rerun of {last_date} with the same raw partitions: nothing new to fold")
        return plan(False, f"incremental on top of the build for {last_date}")


def record_start(wh: Warehouse, run_date: dt.date, build: BuildPlan) -> str:
    build_id = f"{run_date.isoformat()}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"
    with wh.transaction() as con:
        con.execute(
            f"INSERT INTO {STATE_TABLE} (build_id, run_date, project_fingerprint, raw_fingerprint, full_refresh, "
            f"reason, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (build_id, run_date, build.project_fingerprint, build.raw_fingerprint, build.full_refresh,
             build.reason, dt.datetime.now(dt.timezone.utc)),
        )
    return build_id


def record_finish(wh: Warehouse, build_id: str) -> None:
    with wh.transaction() as con:
        con.execute(f"UPDATE {STATE_TABLE} SET finished_at = %s WHERE build_id = %s",
                    (dt.datetime.now(dt.timezone.utc), build_id))
