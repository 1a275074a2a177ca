"""The whole night, end to end, on demo data: DuckDB by default, PostgreSQL when configured."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from fixtures.demo import DEMO_ACTIONS, DEMO_DAYS, DEMO_START

from fixtures.nights import TEST_KEY, raw_pii_values
from vigil.store import incremental
from vigil.cli import main as vigil
from vigil.config import Settings
from vigil.ingest.contract import FEEDS
from vigil.pipeline import run_nightly
from vigil.store.warehouse import Warehouse

START, DAYS = DEMO_START, DEMO_DAYS
LAST = START + dt.timedelta(days=DAYS - 1)
SCHEMAS = ("raw", "staging", "intermediate", "marts")


@pytest.fixture(scope="module")
def demo_landing(demo_warehouse) -> Path:
    return demo_warehouse.landing


def _settings(base: Path, landing: Path, warehouse: str | None = None) -> Settings:
    return Settings(
        landing=str(landing), warehouse=warehouse or str(base / "warehouse" / "vigil.duckdb"), out=base / "out",
        mode="production", pseudonymisation_key=TEST_KEY, duckdb_memory_limit="1GB", create_warehouse=True,
    )


@pytest.fixture(scope="module")
def built(demo_warehouse) -> Settings:
    """Every demo night run in order on DuckDB, as `vigil backfill` would (shared with other tests)."""
    return demo_warehouse.settings


def _query(s: Settings, sql: str):
    con = duckdb.connect(s.warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_night_is_loaded_and_the_marts_are_built(built):
    partitions = _query(built, "SELECT DISTINCT _feed_date FROM raw.hr__employees ORDER BY 1")
    assert [p[0] for p in partitions] == [START + dt.timedelta(days=i) for i in range(DAYS)]
    for mart in ("dim_employees", "dim_accounts", "fct_entitlements", "dim_clients", "fct_complaints", "dim_complainants"):
        assert _query(built, f"SELECT count(*) FROM marts.{mart}")[0][0] > 0, mart
    # the marts describe the last night: one row per employee in the last roster
    roster = _count_rows(Path(built.landing) / "hr" / LAST.isoformat() / "employees.csv")
    assert _query(built, "SELECT count(*) FROM marts.dim_employees")[0][0] == roster


def _count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def test_rerunning_a_night_leaves_every_table_byte_identical(built):
    wh = Warehouse.open(built.warehouse)
    before = wh.table_checksums(SCHEMAS)
    assert any(name.startswith("marts.") for name in before)
    summary = run_nightly(built, LAST, actions=DEMO_ACTIONS)  # the shared warehouse stays without tickets
    assert summary.ok, summary.error
    loads = [s for s in summary.steps if s.name.startswith("load")]
    assert all("unchanged" in s.detail and "loaded" not in s.detail for s in loads)
    after = wh.table_checksums(SCHEMAS)
    # The build ledger is evidence, not data: it records the rerun (and that it folded nothing new).
    assert after.pop(incremental.STATE_TABLE)[0] == before.pop(incremental.STATE_TABLE)[0] + 1
    assert after == before
    with wh.connection() as con:
        [(run_date, full_refresh, reason)] = wh.fetchall(
            con, f"SELECT run_date, full_refresh, reason FROM {incremental.STATE_TABLE} ORDER BY started_at DESC LIMIT 1")
    assert run_date == LAST and not full_refresh and "nothing new to fold" in reason


def test_a_bad_night_fails_clearly_and_touches_nothing(built, tmp_path):
    wh = Warehouse.open(built.warehouse)
    before = wh.table_checksums(SCHEMAS)
    bad_day = LAST + dt.timedelta(days=1)
    landing = tmp_path / "landing"
    for feed in ("hr", "iam", "crm", "complaints"):
        shutil.copytree(Path(built.landing) / feed / LAST.isoformat(), landing / feed / bad_day.isoformat())
    # IAM and CRM are fine; three dates in the roster are not: more than the 1% a night may
    # quarantine, so nothing of the night may land.
    emp = landing / "hr" / bad_day.isoformat() / "employees.csv"
    lines = emp.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    assert len(lines) - 1 < 300  # 3 rows are > 1%
    import io

    for i in (5, 6, 7):
        row = next(csv.reader([lines[i]]))
        row[header.index("hire_date")] = "2026-02-30"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        lines[i] = buf.getvalue()
    emp.write_text("".join(lines), encoding="utf-8")
    (landing / "hr" / bad_day.isoformat() / "_manifest.json").unlink(missing_ok=True)
    summary = run_nightly(built.with_(landing=str(landing)), bad_day)
    assert not summary.ok
    assert f"hr/{bad_day.isoformat()}/employees.csv" in summary.error
    assert "line 6, column hire_date" in summary.error and "(2 more rows like it)" in summary.error
    assert "more than the 1.00% that may be quarantined" in summary.error
    assert wh.table_checksums(SCHEMAS) == before


def test_a_critical_quality_failure_stops_the_night_before_dbt(built, tmp_path):
    """Readable data that breaks a critical expectation: loaded to raw, audited, stopped; marts untouched."""
    warehouse = tmp_path / "copy.duckdb"  # the shared warehouse stays as the other tests expect it
    shutil.copy(built.warehouse, warehouse)
    s = built.with_(warehouse=str(warehouse), out=tmp_path / "out")
    wh = Warehouse.open(str(warehouse))
    before = wh.table_checksums(("intermediate", "marts"))
    bad_day = LAST + dt.timedelta(days=1)
    landing = tmp_path / "landing"
    for feed in ("hr", "iam", "crm", "complaints"):
        shutil.copytree(Path(built.landing) / feed / LAST.isoformat(), landing / feed / bad_day.isoformat())
        (landing / feed / bad_day.isoformat() / "_manifest.json").unlink(missing_ok=True)
    emp = landing / "hr" / bad_day.isoformat() / "employees.csv"
    with open(emp, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    # Half the roster: every row reads fine (the extract cannot know the previous night), but the
    # critical row count wants at least 80% of the previous night's.
    rows = rows[: 1 + (len(rows) - 1) // 2]
    with open(emp, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    summary = run_nightly(s.with_(landing=str(landing)), bad_day)
    assert not summary.ok
    assert "critical" in summary.error and "row_count" in summary.error
    assert [st.name for st in summary.steps][-1] == f"load {FEEDS[-1]}"  # audit raw failed; dbt never ran
    assert wh.table_checksums(("intermediate", "marts")) == before
    dq = duckdb.connect(str(warehouse), read_only=True)
    failed = dq.execute("SELECT count(*) FROM audit.dq_results WHERE run_date = ? AND NOT success "
                        "AND severity = 'critical'", [bad_day]).fetchall()[0][0]
    dq.close()
    assert failed >= 1  # the evidence is kept for the quarterly data-quality summary



def test_no_raw_pii_anywhere_in_the_warehouse(built):
    values = raw_pii_values(Path(built.landing))
    planted = json.loads((Path(built.landing) / "_demo" / "planted.json").read_text())
    canaries = set(planted["canaries"]["national_ids"]) | set(planted["canaries"]["phones"])
    assert canaries <= values and len(values) > 100  # the scan looks for real things
    con = duckdb.connect(built.warehouse, read_only=True)
    try:
        con.execute("CREATE TEMP TABLE pii (v VARCHAR)")
        con.executemany("INSERT INTO pii VALUES (?)", [[v] for v in values])
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema IN ('raw','staging','intermediate','marts')"
        ).fetchall()
        assert columns
        hits = []
        for schema, tbl, col in columns:
            n = con.execute(
                f'SELECT count(*) FROM {schema}."{tbl}" t JOIN pii ON t."{col}" = pii.v'
            ).fetchall()[0][0]
            if n:
                hits.append(f"{schema}.{tbl}.{col}: {n}")
    finally:
        con.close()
    assert hits == []
    # and nothing in the run's own files either (summaries, staged Parquet, dbt logs)
    for path in Path(built.out).rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert not [c for c in canaries if c.encode() in data], path


def test_cli_run_and_backfill(demo_landing, tmp_path, capsys):
    args = ["--landing", str(demo_landing), "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out"), "--demo"]
    second = START + dt.timedelta(days=1)
    backfill = ["backfill", "--start", START.isoformat(), "--end", second.isoformat(), "--create-warehouse", *args]
    # The first night finds the demo's whole backlog of leavers: more revocations than one night may
    # make, so a breaker holds it (exit 3) and the backfill stops there, publishing nothing.
    assert vigil(backfill) == 3
    out = capsys.readouterr()
    assert "HELD by a circuit breaker" in out.err and f"vigil approve --date {START}" in out.err
    assert not (tmp_path / "out" / "runs" / second.isoformat()).exists()
    assert vigil(["approve", "--date", START.isoformat(), "--reason", "initial backlog reviewed", "--by", "tester",
                  *args]) == 0
    capsys.readouterr()
    assert vigil(backfill) == 0
    printed = capsys.readouterr().out
    assert f"{START} done" in printed and f"{second} done" in printed and "Where to look" in printed
    assert json.loads((tmp_path / "out" / "runs" / second.isoformat() / "summary.json").read_text())["ok"] is True
    # a date with no delivery: clear message, exit code 1
    assert vigil(["run", "--date", "2030-01-01", *args]) == 1
    assert "no delivery" in capsys.readouterr().err


def test_cli_refuses_production_without_a_key(demo_landing, tmp_path, capsys, monkeypatch):
    """A missing key is a configuration error (exit 2, one line), found before anything is created."""
    monkeypatch.delenv("VIGIL_PSEUDONYMISATION_KEY", raising=False)
    code = vigil(["run", "--date", START.isoformat(), "--landing", str(demo_landing), "--create-warehouse",
                  "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: no pseudonymisation key") and err.count("\n") == 1
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "out").exists()


@pytest.mark.postgres
def test_postgres_warehouse_runs_the_whole_night_and_publishes_the_same_tables(demo_warehouse, demo_landing, pg_url,
                                                                             tmp_path):
    """Every demo night on PostgreSQL with actions (gates, breakers, publish, tickets through a file-drop
    outbox, alerts): every published table equals the DuckDB run's, row for row."""
    from fixtures.demo import approve_held_night

    built = demo_warehouse.settings
    drop = tmp_path / "delivery.yml"
    drop.write_text('version: 1\nchannels:\n  drop:\n    type: filedrop\n    path: "{system}/{run_date}"\n'
                    'default: [drop]\n')
    s = _settings(tmp_path, demo_landing, warehouse=pg_url).with_(delivery_config=drop)
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        summary = run_nightly(s, day)
        if summary.status == "held":  # the same nights the DuckDB fixture had approved
            assert day in demo_warehouse.held, (day, summary.error)
            approve_held_night(s, day)
            summary = run_nightly(s, day)
        assert summary.ok, summary.error
    import psycopg

    with psycopg.connect(pg_url) as con:
        con.execute("SET TimeZone = 'UTC'")
        tables = [t for (t,) in con.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'publish' ORDER BY 1").fetchall()]
        assert tables == [t for (t,) in _query(built, "SELECT table_name FROM information_schema.tables "
                                                      "WHERE table_schema = 'publish' ORDER BY 1")]
        for table in tables:
            cur = con.execute(f"SELECT * FROM publish.{table}")
            names = [c.name for c in cur.description]
            pg_rows = sorted((_normalise(r) for r in cur.fetchall()), key=repr)
            duck_rows = sorted((_normalise(r) for r in _query_utc(built, f"SELECT {', '.join(names)} FROM publish.{table}")),
                               key=repr)
            assert pg_rows == duck_rows, table
        tickets = con.execute("SELECT status, count(*) FROM tickets.tickets GROUP BY 1").fetchall()
        outbox = con.execute("SELECT DISTINCT state FROM tickets.outbox").fetchall()
    assert tickets and sum(n for _, n in tickets) >= 1 and outbox == [("delivered",)]
    assert list((tmp_path / "out" / "filedrop").rglob("*.jsonl")), "the file drop wrote nothing"
    assert any((tmp_path / "out" / "alerts").rglob("alerts.jsonl"))


def _normalise(row) -> tuple:
    from decimal import Decimal

    out = []
    for v in row:
        if isinstance(v, dt.datetime):
            v = v.astimezone(dt.timezone.utc).isoformat()
        elif isinstance(v, Decimal):
            v = str(v.normalize())
        elif isinstance(v, float):
            v = round(v, 9)
        out.append(v)
    return tuple(out)


def _query_utc(s: Settings, sql: str):
    con = duckdb.connect(s.warehouse, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()

def test_demo_warnings_caused_by_planted_defects_say_so(tmp_path):
    """The demo's orphan accounts warn every night on purpose: the run output labels them planted
    (demo mode with planted.json only; other warnings and production runs are left as they are)."""
    from vigil.config import Settings
    from vigil.pipeline import demo_planted_cases, label_planted

    gx_warning = ("data quality (warning): warning raw.iam__accounts.warning referential:employee_id->hr__employees: "
                  "2 of 5083 rows unexpected")
    dbt_warning = ("dbt test warned: relationships_dim_accounts_employee_id__employee_id__ref_dim_employees_: "
                   "Got 2 results, configured to warn if != 0")
    other = "source freshness warn: hr.employees"
    (tmp_path / "_demo").mkdir()
    (tmp_path / "_demo" / "planted.json").write_text(json.dumps({"cases": {"orphan_accounts": [
        {"key": "OR2", "employee_id": "E9000001"}, {"key": "OR3", "employee_id": "3"}]}}))
    planted = demo_planted_cases(Settings(landing=str(tmp_path), mode="demo"))
    for w in (gx_warning, dbt_warning):
        assert label_planted(w, planted) == f"{w} (planted demo defect: orphan_accounts OR2, OR3, see docs/demo-data.md)"
    assert label_planted(other, planted) == other
    from rich.console import Console  # the CLI prints warnings as Rich markup: the label must survive it

    console = Console(record=True, width=400)
    console.print(f"  [yellow]![/] {label_planted(gx_warning, planted)}")
    assert "(planted demo defect: orphan_accounts OR2, OR3" in console.export_text()
    assert demo_planted_cases(Settings(landing=str(tmp_path), mode="production")) == {}
    assert demo_planted_cases(Settings(landing=str(tmp_path / "elsewhere"), mode="demo")) == {}
    assert label_planted(gx_warning, {}) == gx_warning
