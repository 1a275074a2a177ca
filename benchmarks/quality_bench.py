"""How fast the data-quality gate validates a big raw table, next to how long loading it takes.

    .venv/bin/python benchmarks/quality_bench.py [--rows 2000000] [--engines duckdb,postgresql] [--pandas]

Builds a synthetic night of raw.hr__employees (`--rows` rows, a previous night of the same size
already in the table), loads it with the real load step (Warehouse.load_feed from staged Parquet),
then runs the committed suites raw.hr__employees.critical/.warning through vigil.gates.quality. Prints JSON:
load seconds, gate seconds, expectations, rows/s per expectation (rows x expectations / seconds).
`--pandas` also times GX's pandas engine on the same rows (DuckDB -> Arrow -> pandas) for comparison.
PostgreSQL: a scratch database on VIGIL_BENCH_PG_DSN (default postgresql://postgres@127.0.0.1:5432/postgres),
dropped afterwards. Keep it short on a shared 2-core machine: one run per engine, no repetitions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb

D = dt.date(2026, 3, 2)
PG_ADMIN = os.environ.get("VIGIL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def make_staged(path: Path, rows: int, seed: int) -> "StagedTable":  # noqa: F821
    from vigil.ingest.reader import StagedTable

    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT lpad(CAST(i AS VARCHAR), 8, '0') AS employee_id,
                 sha256('n' || i) AS full_name_token, sha256('id' || i) AS national_id_token,
                 sha256('e' || i) AS email_token,
                 'Dept ' || (i % 40) AS department, 'Position ' || (i % 90) AS position,
                 lpad(CAST(i // 10 AS VARCHAR), 8, '0') AS manager_id,
                 (['permanent', 'fixed_term', 'contractor'])[1 + i % 3] AS employment_type,
                 DATE '2000-01-01' + CAST(i % 9000 AS INTEGER) AS hire_date,
                 CASE WHEN i % 3 = 1 THEN DATE '2026-12-31' END AS contract_end_date,
                 CASE WHEN i % 20 = 0 THEN 'terminated' WHEN i % 50 = 1 THEN 'notice' ELSE 'active' END AS status,
                 CASE WHEN i % 20 = 0 THEN DATE '2026-01-15' END AS notice_date,
                 CASE WHEN i % 20 = 0 THEN DATE '2026-02-27' END AS termination_date,
                 CASE WHEN i % 20 = 0 THEN 'resignation' END AS termination_reason,
                 CAST(i + 2 AS BIGINT) AS _source_line
          FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT parquet)""")
    con.close()
    sha = hashlib.sha256(f"{seed}-{rows}".encode()).hexdigest()
    return StagedTable("hr", "employees", f"hr/{seed}/employees.csv", sha, rows, str(path))


def bench_engine(url: str, work: Path, rows: int, *, feed_date_index: bool = False) -> dict:
    from vigil.gates.quality import QualityGate
    from vigil.store.warehouse import Warehouse

    wh = Warehouse.open(url, memory_limit="2GB")
    out: dict = {"rows": rows}
    for night, date in enumerate((D - dt.timedelta(days=1), D)):
        staged = make_staged(work / f"employees-{night}.parquet", rows, night)
        t0 = time.perf_counter()
        wh.load_feed("hr", date, [staged], run_id=f"bench-{night}", loaded_at=dt.datetime.now(dt.timezone.utc))
        out["load_seconds"] = round(time.perf_counter() - t0, 2)  # the second (measured) night
    if feed_date_index:  # PostgreSQL: the gate then validates through a view instead of a copy of the night
        with wh.transaction() as con:
            con.execute("CREATE INDEX IF NOT EXISTS hr__employees__feed_date ON raw.hr__employees (_feed_date)")
        out["batch"] = "view (index on _feed_date)"
    else:
        out["batch"] = "unlogged copy of the night" if url.startswith("postgres") else "view"
    gate = QualityGate(work / "out")
    t0 = time.perf_counter()
    gate.context  # noqa: B018 - GX import and context: paid once per process
    out["gx_import_and_context_seconds"] = round(time.perf_counter() - t0, 2)
    res = gate.run(url, "raw", ["hr__employees"], run_date=D, build_docs=False, persist=False)
    assert res.ok, res.describe_failures()
    n = len(res.expectations)
    gx_seconds = sum(s.seconds for s in res.suites)
    out.update(
        gate_seconds_total=round(res.seconds, 2),
        gx_validation_seconds=round(gx_seconds, 2),
        expectations=n,
        rows_per_second_per_expectation=int(rows * n / gx_seconds),
        rows_per_second_whole_suite=int(rows / gx_seconds),
        per_suite_seconds={s.suite: round(s.seconds, 2) for s in res.suites},
    )
    t0 = time.perf_counter()
    gate.run(url, "raw", ["hr__employees"], run_date=D, build_docs=True, persist=True)
    out["gate_with_persist_and_docs_seconds"] = round(time.perf_counter() - t0, 2)
    return out


def bench_pandas(duckdb_path: Path, rows: int) -> dict:
    """GX's pandas engine on the same night, fed DuckDB -> Arrow -> pandas: the alternative we did not take."""
    import great_expectations as gx

    t0 = time.perf_counter()
    con = duckdb.connect(str(duckdb_path), read_only=True)
    df = con.execute("SELECT * FROM raw.hr__employees WHERE _feed_date = ?", [D]).to_arrow_table().to_pandas()
    con.close()
    fetch = time.perf_counter() - t0
    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("p").add_dataframe_asset("e").add_batch_definition_whole_dataframe("b") \
        .get_batch(batch_parameters={"dataframe": df})
    E = gx.expectations
    suite = gx.ExpectationSuite("pandas_bench", expectations=[
        E.ExpectColumnValuesToNotBeNull(column="employee_id"),
        E.ExpectColumnValuesToBeUnique(column="employee_id"),
        E.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "notice", "leave", "terminated"]),
        E.ExpectColumnValuesToMatchRegex(column="email_token", regex="^[0-9a-f]{64}$"),
    ])
    t0 = time.perf_counter()
    res = batch.validate(suite)
    secs = time.perf_counter() - t0
    assert res.success
    return {"fetch_to_pandas_seconds": round(fetch, 2), "validate_seconds": round(secs, 2), "expectations": 4,
            "rows_per_second_per_expectation": int(rows * 4 / secs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--engines", default="duckdb,postgresql")
    ap.add_argument("--pandas", action="store_true")
    ap.add_argument("--pg-index", action="store_true",
                    help="also run PostgreSQL with an index on raw.hr__employees(_feed_date)")
    args = ap.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    report: dict = {"rows": args.rows, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="vigil-qbench-") as tmp:
        work = Path(tmp)
        if "duckdb" in args.engines:
            path = work / "wh" / "vigil.duckdb"
            (work / "duck").mkdir()
            report["duckdb"] = bench_engine(str(path), work / "duck", args.rows)
            if args.pandas:
                report["duckdb_pandas_engine"] = bench_pandas(path, args.rows)
        if "postgresql" in args.engines:
            import psycopg

            variants = [("postgresql", False)] + ([("postgresql_feed_date_index", True)] if args.pg_index else [])
            for label, index in variants:
                name = f"vigil_qbench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                try:
                    (work / label).mkdir()
                    report[label] = bench_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", work / label, args.rows,
                                                 feed_date_index=index)
                finally:
                    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
