"""Incremental nights: when dbt may extend last night's history-wide models, and proof that the
tables an incremental week ends with equal a full rebuild of the same week.

The plan rules (vigil.store.incremental.plan_build) are tested on a bare DuckDB warehouse with a load
ledger; the equality on the demo week (tests/conftest.py demo_warehouse: night 1 full, then every
build incremental, the reruns of held nights included) against a --full-refresh build of the last
night; on PostgreSQL the same for the incremental models, built night by night from the demo
week's raw layer.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from vigil.store import incremental
from vigil.build.dbt_runner import DBT_PROJECT_DIR, run_dbt
from vigil.store.warehouse import LEDGER, Warehouse

D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 4)
PROJECT_FP = "project-v1"


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse.open(str(tmp_path / "w.duckdb"), memory_limit="256MB")
    with w.transaction() as con:
        w.ensure_raw_schema(con)
    return w


def _ledger(wh: Warehouse, feed_date: dt.date, sha: str, table: str = "employees") -> None:
    with wh.transaction() as con:
        con.execute(f"DELETE FROM {LEDGER} WHERE feed = 'hr' AND table_name = %s AND feed_date = %s", (table, feed_date))
        con.execute(f"INSERT INTO {LEDGER} (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                    f"stale, run_id, loaded_at) VALUES ('hr', %s, %s, 'f.csv', %s, 1, false, 'r', now())",
                    (table, feed_date, sha))


def _built(wh: Warehouse, run_date: dt.date, project_fp: str = PROJECT_FP, *, finish: bool = True) -> incremental.BuildPlan:
    plan = incremental.plan_build(wh, run_date, project_fp)
    build_id = incremental.record_start(wh, run_date, plan)
    if finish:
        incremental.record_finish(wh, build_id)
    return plan


def test_first_build_is_full_then_the_next_night_is_incremental(wh):
    _ledger(wh, D1, "a")
    assert _built(wh, D1).full_refresh
    _ledger(wh, D2, "b")  # tonight's partition is new: that is what an incremental night folds in
    plan = incremental.plan_build(wh, D2, PROJECT_FP)
    assert not plan.full_refresh and str(D1) in plan.reason


def test_a_backfill_or_a_rerun_with_corrected_files_rebuilds(wh):
    _ledger(wh, D1, "a")
    _ledger(wh, D2, "b")
    _built(wh, D1)
    _built(wh, D2)
    plan = incremental.plan_build(wh, D1, PROJECT_FP)  # an earlier night: the models must not see D2
    assert plan.full_refresh and "backfill" in plan.reason
    plan = incremental.plan_build(wh, D2, PROJECT_FP)  # the same night, the same files: boundary
    assert not plan.full_refresh and "nothing new to fold" in plan.reason
    _ledger(wh, D2, "b-corrected")  # the same night rerun with a corrected file
    plan = incremental.plan_build(wh, D2, PROJECT_FP)
    assert plan.full_refresh and "reloaded" in plan.reason
    _ledger(wh, D2, "b")
    assert not incremental.plan_build(wh, D3, PROJECT_FP).full_refresh  # the day after


def test_a_reloaded_earlier_night_rebuilds_but_a_reload_of_tonight_does_not(wh):
    _ledger(wh, D1, "a")
    _ledger(wh, D2, "b")
    _built(wh, D2)
    _ledger(wh, D3, "c")
    _ledger(wh, D3, "c2")  # tonight's partition replaced before the build: still incremental
    assert not incremental.plan_build(wh, D3, PROJECT_FP).full_refresh
    _ledger(wh, D2, "b-corrected")  # the last built night itself was reloaded: boundary
    plan = incremental.plan_build(wh, D3, PROJECT_FP)
    assert plan.full_refresh and "reloaded" in plan.reason
    _ledger(wh, D2, "b")
    _ledger(wh, D1, "a", table="assets")  # a partition the last build never saw, dated before it
    assert incremental.plan_build(wh, D3, PROJECT_FP).full_refresh


def test_an_unfinished_build_or_a_changed_project_rebuilds(wh):
    _ledger(wh, D1, "a")
    _built(wh, D1)
    _built(wh, D2, finish=False)  # dbt failed half-way through night 2
    plan = incremental.plan_build(wh, D3, PROJECT_FP)
    assert plan.full_refresh and "did not finish" in plan.reason
    _built(wh, D2)  # night 2 rerun, finished
    assert not incremental.plan_build(wh, D3, PROJECT_FP).full_refresh
    plan = incremental.plan_build(wh, D3, "project-v2")
    assert plan.full_refresh and "project" in plan.reason


def test_project_fingerprint_follows_models_macros_and_vars(tmp_path: Path):
    project = tmp_path / "p"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    before = incremental.project_fingerprint(project)
    assert incremental.project_fingerprint(project) == before
    assert incremental.project_fingerprint(project, {"complaint_response_days": 56}) != before
    model = project / "models" / "intermediate" / "complaints" / "int_complaints__latest_versions.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    assert incremental.project_fingerprint(project) != before


def _tables(con, catalog: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_schema IN ('intermediate', 'marts', 'publish_candidate') AND table_type = 'BASE TABLE' "
        "AND table_name NOT LIKE '\\_vigil%' ESCAPE '\\' ORDER BY 1, 2",
        [catalog],
    ).fetchall()


@pytest.mark.slow
def test_an_incremental_week_equals_a_full_rebuild(demo_warehouse, tmp_path: Path):
    demo = demo_warehouse
    builds = demo.rows(f"SELECT run_date, full_refresh, finished_at FROM {incremental.STATE_TABLE} ORDER BY started_at")
    last = builds[-1]
    # Not vacuous: one full build on the first night, then only incremental ones up to the last night.
    assert last["run_date"] == demo.last and last["finished_at"] is not None
    assert builds[0]["full_refresh"] and not any(b["full_refresh"] for b in builds[1:])
    assert len({b["run_date"] for b in builds}) == demo.days

    rebuilt = tmp_path / "full.duckdb"
    shutil.copyfile(demo.settings.warehouse, rebuilt)
    run_dbt(["build", "--full-refresh", "--exclude-resource-type", "unit_test"], warehouse=str(rebuilt),
            run_date=demo.last, work_dir=tmp_path / "dbt")

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{demo.settings.warehouse}' AS inc (READ_ONLY)")
        con.execute(f"ATTACH '{rebuilt}' AS fr (READ_ONLY)")
        tables = _tables(con, "inc")
        assert tables == _tables(con, "fr")
        assert ("intermediate", "int_complaints__latest_versions") in tables
        differ, compared_rows = [], 0
        for schema, table in tables:
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'inc' AND table_schema = ? "
                "AND table_name = ? AND column_name NOT IN ('_versions_through', '_nights_through') "
                "ORDER BY ordinal_position", [schema, table],
            ).fetchall()]
            cols = ", ".join(f'"{c}"' for c in columns)
            only_inc, only_full = (
                con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {a}.{schema}.{table} "
                            f"EXCEPT ALL SELECT {cols} FROM {b}.{schema}.{table})").fetchone()[0]
                for a, b in (("inc", "fr"), ("fr", "inc"))
            )
            compared_rows += con.execute(f"SELECT count(*) FROM inc.{schema}.{table}").fetchone()[0]
            if only_inc or only_full:
                differ.append((schema, table, only_inc, only_full))
        assert differ == [], differ
        complaints = con.execute("SELECT count(*) FROM inc.intermediate.int_complaints__latest_versions").fetchone()[0]
        assert complaints > 0 and compared_rows > complaints
    finally:
        con.close()


INCREMENTAL_MODELS = ("int_access__account_history", "int_accounts__login_summary", "int_accounts__login_instants",
                      "int_complaints__latest_versions", "int_complainants__latest_versions")


@pytest.mark.postgres
@pytest.mark.slow
def test_on_postgres_incremental_nights_equal_a_full_rebuild(demo_warehouse, pg_url, tmp_path: Path):
    """The same fold on PostgreSQL (dbt-postgres' delete+insert): the demo week's raw layer built
    night by night, the first night full and every later one incremental, equals a full rebuild."""
    import psycopg

    from fixtures.postgres import copy_raw_layer

    demo = demo_warehouse
    copy_raw_layer(demo.settings.warehouse, pg_url)
    select = ["--select", *(f"+{m}" for m in INCREMENTAL_MODELS), "--exclude-resource-type", "unit_test"]
    for i in range(demo.days):
        night = demo.start + dt.timedelta(days=i)
        result = run_dbt(["build", *select, *(["--full-refresh"] if i == 0 else [])], warehouse=pg_url,
                         run_date=night, work_dir=tmp_path / "dbt")
        assert result.failed_nodes == []
        incremental_runs = [n for n in result.nodes if n.unique_id.split(".")[-1] in INCREMENTAL_MODELS]
        assert len(incremental_runs) == len(INCREMENTAL_MODELS)

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("CREATE SCHEMA folded")
        for model in INCREMENTAL_MODELS:
            con.execute(f"CREATE TABLE folded.{model} AS SELECT * FROM intermediate.{model}")
        # not vacuous: the last night folded something new into what earlier nights had stored
        assert con.execute("SELECT count(DISTINCT _versions_through) FROM folded.int_complaints__latest_versions"
                           ).fetchone()[0] > 1

    result = run_dbt(["build", *select, "--full-refresh"], warehouse=pg_url, run_date=demo.last,
                     work_dir=tmp_path / "dbt")
    assert result.failed_nodes == []
    with psycopg.connect(pg_url, autocommit=True) as con:
        for model in INCREMENTAL_MODELS:
            columns = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'intermediate' "
                "AND table_name = %s AND column_name NOT IN ('_versions_through', '_nights_through') "
                "ORDER BY ordinal_position", (model,)).fetchall()]
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f"SELECT count(*) FROM intermediate.{model}").fetchone()[0]
            only_folded, only_full = (
                con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {a}.{model} "
                            f"EXCEPT ALL SELECT {cols} FROM {b}.{model}) AS d").fetchone()[0]
                for a, b in (("folded", "intermediate"), ("intermediate", "folded"))
            )
            assert rows > 0 and (only_folded, only_full) == (0, 0), model
