"""Data-quality gates: committed GX suites really run on DuckDB and PostgreSQL.

A clean night passes; a night with one planted violation of each kind fails exactly the
expectation that covers it, with the right unexpected count; results land in audit.dq_results
(a rerun of the date replaces them) and Data Docs are built. The GX context is created once per
module (importing GX and building a context costs seconds).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
import textwrap

import pytest

from vigil.gates.quality import suites as suite_files

D = dt.date(2026, 3, 2)
PREV = D - dt.timedelta(days=1)
TABLES = ["hr__employees", "hr__performance", "iam__accounts", "iam__entitlements", "complaints__complaints",
          "complaints__complainants"]


def tok(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def employee(i: int, **kw) -> dict:
    row = dict(employee_id=f"E{i:04d}", full_name_token=tok(f"n{i}"), national_id_token=tok(f"i{i}"),
               email_token=tok(f"e{i}"), department="Payments", position="Clerk", employment_type="permanent",
               hire_date=dt.date(2020, 1, 1), status="active")
    row.update(kw)
    return row


def clean_night(n_employees: int = 10) -> dict[str, list[dict]]:
    ts = dt.datetime(2026, 3, 1, 8, tzinfo=dt.timezone.utc)
    return {
        "hr__employees": [employee(i) for i in range(1, n_employees + 1)] + [
            employee(900, status="terminated", notice_date=dt.date(2026, 1, 31), termination_date=dt.date(2026, 2, 27),
                     termination_reason="resignation")],
        "hr__performance": [dict(employee_id="E0001", period_end=dt.date(2025, 12, 31), rating=4)],
        "iam__accounts": [dict(account_id=f"u{i}", system="AD", employee_id=f"E{i:04d}", status="enabled",
                               is_privileged=False, created_at=ts) for i in (1, 2, 3)],
        "iam__entitlements": [dict(system="AD", account_id=f"u{i}", entitlement="staff", is_privileged=False,
                                   granted_at=ts) for i in (1, 2, 3)],
        "complaints__complaints": [dict(complaint_id="K1", complainant_id="P1", received_at=ts, updated_at=ts,
                                        channel="phone", category="fees", status="open", satisfaction=3)],
        "complaints__complainants": [dict(complainant_id="P1", full_name_token=tok("p1"), client_id="C01")],
    }


def dirty_night() -> dict[str, list[dict]]:
    """One violation of each kind, each in its own row (expected counts in EXPECTED_FAILURES)."""
    night = clean_night(n_employees=6)  # E0001-E0006 and E0900; accounts point at E0001-E0003
    emp = {r["employee_id"]: r for r in night["hr__employees"]}
    emp["E0004"]["status"] = "retired"                                  # outside the accepted set
    emp["E0006"]["email_token"] = "Anna@bank.test"                      # raw PII, not a token
    emp["E0900"]["notice_date"] = dt.date(2026, 3, 1)                   # notice after termination
    night["hr__employees"] += [
        employee(101, employee_id=None),                                # null key
        employee(102, employee_id="E0005"),                             # duplicate key: 2 rows
        employee(103, status="terminated", termination_date=dt.date(2019, 12, 31)),  # left before hired
        employee(104, hire_date=D + dt.timedelta(days=400)),            # hired far in the future
    ]  # 11 rows against 21 the night before: the row count dropped below 80 %
    night["hr__performance"][0]["rating"] = 7                           # out of range 1-5
    night["iam__entitlements"].append(dict(system="AD", account_id="ghost", entitlement="admin",
                                           is_privileged=True, granted_at=None))  # no such account
    at = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc)
    night["complaints__complaints"].append(dict(complaint_id="K2", complainant_id="P404", received_at=at,
                                                updated_at=at, channel="email", category="fees", status="open"))
    return night  # (P404 was never delivered as a complainant)


#: (suite, expectation) -> unexpected count (None: table-level, checked via `observed`)
EXPECTED_FAILURES = {
    ("raw.hr__employees.critical", "not_null:employee_id"): 1,
    ("raw.hr__employees.critical", "unique:employee_id"): 2,
    ("raw.hr__employees.critical", "accepted_values:status"): 1,
    ("raw.hr__employees.critical", "date_sanity:termination_date>=hire_date"): 1,
    ("raw.hr__employees.critical", "date_sanity:hire_date<=run_date+365"): 1,
    ("raw.hr__employees.critical", "date_sanity:termination_date>=notice_date"): 1,
    ("raw.hr__employees.critical", "pseudonymised:email_token:hex"): 1,
    ("raw.hr__employees.critical", "pseudonymised:email_token:length"): 1,
    ("raw.hr__employees.critical", "row_count:>=80%_of_previous_night"): None,
    ("raw.hr__performance.critical", "range:rating"): 1,
    ("raw.iam__entitlements.critical", "referential:system,account_id->iam__accounts"): 1,
    ("raw.complaints__complaints.warning", "referential:complainant_id->complaints__complainants"): 1,
}


def load_nights(url: str, nights: dict[dt.date, dict[str, list[dict]]]) -> None:
    """Write raw partitions and ledger rows directly (what Warehouse.load_feed leaves behind)."""
    from vigil.ingest.contract import TABLES as CONTRACT
    from vigil.store.warehouse import LEDGER, Warehouse

    by_raw = {t.raw_table: t for t in CONTRACT}
    wh = Warehouse.open(url, memory_limit="1GB")
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        for date, night in nights.items():
            for table, rows in night.items():
                t = by_raw[table]
                cols = [c.warehouse_name for c in t.columns]
                sha = tok(f"{table}{date}{len(rows)}")
                con.execute(f"DELETE FROM raw.{table} WHERE _feed_date = %s", (date,))
                for line, row in enumerate(rows, start=2):
                    con.execute(
                        f"INSERT INTO raw.{table} ({', '.join(cols)}, _feed_date, _source_file, _source_sha256, "
                        f"_source_line, _loaded_at, _run_id) VALUES ({', '.join(['%s'] * (len(cols) + 6))})",
                        (*[row.get(c) for c in cols], date, f"{t.feed}/{date}/{t.name}.csv", sha, line,
                         dt.datetime(2026, 3, 3, tzinfo=dt.timezone.utc), "test"),
                    )
                con.execute(f"DELETE FROM {LEDGER} WHERE feed = %s AND table_name = %s AND feed_date = %s",
                            (t.feed, t.name, date))
                con.execute(f"INSERT INTO {LEDGER} (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                            f"stale, run_id, loaded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            (t.feed, t.name, date, f"{t.feed}/{date}/{t.name}.csv", sha, len(rows), False, "test",
                             dt.datetime(2026, 3, 3, tzinfo=dt.timezone.utc)))


def query(url: str, sql: str, params=()) -> list[tuple]:
    from vigil.store.warehouse import Warehouse

    with Warehouse.open(url).connection() as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    from vigil.gates.quality import QualityGate

    g = QualityGate(tmp_path_factory.mktemp("quality-out"))
    g.context  # noqa: B018 - build the GX context once for the module
    return g


# ------------------------------------------------------------------------- suites as files

def test_committed_suites_equal_the_generator_output():
    assert suite_files.drift() == [], "run: python -m vigil.gates.quality.suites"


def test_every_raw_table_has_a_critical_suite_named_by_convention():
    from vigil.ingest.contract import TABLES as CONTRACT

    refs = suite_files.discover("raw")
    assert {r.table for r in refs if r.severity == "critical"} == {t.raw_table for t in CONTRACT}
    assert all(r.path.name == f"{r.name}.json" for r in refs)


def test_committed_suites_are_gx_suites(gate):
    """Each file loads as a GX ExpectationSuite and GX serialises it back to the same JSON."""
    import great_expectations as gx

    for ref in suite_files.discover("raw"):
        data = suite_files.load_json(ref)
        again = json.loads(json.dumps(gx.ExpectationSuite(**data).to_json_dict(), default=str))
        key = lambda e: e["id"]  # noqa: E731
        assert sorted(again.pop("expectations"), key=key) == sorted(data["expectations"], key=key), ref.name
        assert again == {k: v for k, v in data.items() if k != "expectations"}, ref.name


def test_importing_the_package_does_not_import_gx():
    code = "import sys, vigil.gates.quality; from vigil.gates.quality import run_suites; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------------- the gate, per engine

def check_clean_and_dirty(gate, url: str, engine: str) -> None:
    load_nights(url, {PREV: clean_night(20), D: clean_night(20)})
    clean = gate.run(url, "raw", TABLES, run_date=D, run_id="clean-run")
    assert clean.engine == engine
    assert clean.ok, clean.describe_failures()
    assert clean.failed_warning == [], clean.describe_failures()
    assert {s.suite for s in clean.suites} == {r.name for r in suite_files.discover("raw", TABLES)}
    assert all(not s.skipped and s.expectations for s in clean.suites)
    assert all(e.error is None for e in clean.expectations)
    emp = clean.outcome("raw.hr__employees.critical", "not_null:employee_id")
    assert (emp.element_count, emp.unexpected_count) == (21, 0)  # only D's partition, not PREV's
    assert clean.outcome("raw.hr__employees.critical", "type:hire_date").success
    n_rows = query(url, "SELECT count(*) FROM audit.dq_results WHERE run_date = %s", (D,))[0][0]
    assert n_rows == len(clean.expectations) == clean.persisted_rows
    assert clean.data_docs_index.is_file()

    # the same date again, now dirty: every kind of violation, named, counted; rows replaced
    load_nights(url, {D: dirty_night()})
    dirty = gate.run(url, "raw", TABLES, run_date=D, run_id="dirty-run")
    assert not dirty.ok
    failed = {(e.suite, e.expectation): e for e in dirty.failed_critical + dirty.failed_warning}
    assert set(failed) == set(EXPECTED_FAILURES), dirty.describe_failures()
    for key, count in EXPECTED_FAILURES.items():
        e = failed[key]
        assert e.error is None, e.error
        assert e.severity == key[0].rsplit(".", 1)[1]
        if count is None:
            continue
        assert e.unexpected_count == count, e.line()
    row_count = failed[("raw.hr__employees.critical", "row_count:>=80%_of_previous_night")]
    assert row_count.observed == 11  # min_row_count = ceil(0.8 * 21) = 17
    assert "retired" in failed[("raw.hr__employees.critical", "accepted_values:status")].partial_unexpected
    assert failed[("raw.iam__entitlements.critical", "referential:system,account_id->iam__accounts")] \
        .partial_unexpected == [{"system": "AD", "account_id": "ghost"}]
    assert failed[("raw.hr__employees.critical", "pseudonymised:email_token:hex")].partial_unexpected == []
    assert "Anna" not in dirty.describe_failures() + dirty.as_json()  # leaked PII is counted, never shown
    with pytest.raises(Exception, match="not_null:employee_id"):
        dirty.raise_for_critical()

    rows = query(url, "SELECT run_id, suite, expectation, success, unexpected_count FROM audit.dq_results "
                      "WHERE run_date = %s", (D,))
    assert len(rows) == len(dirty.expectations)
    assert {r[0] for r in rows} == {"dirty-run"}
    assert ("dirty-run", "raw.hr__employees.critical", "unique:employee_id", False, 2) in rows
    assert dirty.data_docs_index.is_file()
    pages = list((gate.data_docs_dir / "validations" / "raw" / "hr__employees" / "critical" / "dirty-run").rglob("*.html"))
    assert pages, "no Data Docs page for the dirty run"
    assert list((gate.validations_dir / "raw" / "hr__employees" / "critical" / "dirty-run").rglob("*.json"))
    # no batch views/tables left behind
    left = query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'audit'")
    assert [r[0] for r in left] == ["dq_results"]


def test_duckdb_clean_night_passes_and_each_violation_fails(gate, tmp_path):
    check_clean_and_dirty(gate, str(tmp_path / "wh" / "vigil.duckdb"), "duckdb")


@pytest.mark.postgres
def test_postgres_clean_night_passes_and_each_violation_fails(gate, pg_url):
    check_clean_and_dirty(gate, pg_url, "postgresql")
    # raw tables are indexed on _feed_date, so the night above was a view; without the index it is an
    # unlogged copy instead: same verdicts
    from vigil.store.warehouse import Warehouse

    with Warehouse.open(pg_url).transaction() as con:
        con.execute("DROP INDEX raw.hr__employees__feed_date")
    again = gate.run(pg_url, "raw", ["hr__employees"], run_date=D, build_docs=False)
    assert {e.expectation for e in again.failed_critical} == {
        name for (suite, name) in EXPECTED_FAILURES if suite == "raw.hr__employees.critical"}
    assert query(pg_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'audit'") == [("dq_results",)]


def test_optional_table_not_delivered_is_skipped_and_type_drift_fails(gate, tmp_path):
    url = str(tmp_path / "wh" / "vigil.duckdb")
    night = clean_night()
    del night["hr__performance"]
    load_nights(url, {D: night})
    from vigil.store.warehouse import Warehouse

    with Warehouse.open(url).transaction() as con:  # a column whose type drifted from the contract
        con.execute("ALTER TABLE raw.complaints__complaints ALTER COLUMN satisfaction TYPE VARCHAR")
    res = gate.run(url, "raw", ["hr__performance", "complaints__complaints"], run_date=D, build_docs=False)
    perf = [s for s in res.suites if s.table == "hr__performance"]
    assert perf and all(s.skipped for s in perf)
    assert ("type:satisfaction", "String") in [(e.expectation, e.observed) for e in res.failed_critical]


def test_a_publish_suite_is_just_a_file(gate, tmp_path):
    """Adding publish.<table>.<severity>.json is all it takes to gate a mart (any schema, whole table)."""
    import great_expectations as gx

    from vigil.gates.quality import QualityGate
    from vigil.store.warehouse import Warehouse

    url = str(tmp_path / "wh" / "vigil.duckdb")
    with Warehouse.open(url).transaction() as con:
        con.execute("CREATE SCHEMA marts_audit")
        con.execute("CREATE TABLE marts_audit.kpi_daily (kpi VARCHAR, value DOUBLE)")
        con.execute("INSERT INTO marts_audit.kpi_daily VALUES ('leavers_with_access', 3), ('ratio', 1.7)")
    suite = gx.ExpectationSuite("publish.kpi_daily.critical", expectations=[
        gx.expectations.ExpectColumnValuesToBeBetween(column="value", min_value=0, max_value=1, meta={"name": "range:value"}),
    ])
    suites_dir = tmp_path / "expectations"
    suites_dir.mkdir()
    (suites_dir / "publish.kpi_daily.critical.json").write_text(json.dumps(suite.to_json_dict(), default=str))
    other = QualityGate(gate.out, suites_dir=suites_dir)
    other._context = gate.context  # same GX context: the suites directory is only where files are read
    res = other.run(url, "publish", run_date=D, schema="marts_audit", build_docs=False)
    assert [(e.expectation, e.unexpected_count, e.element_count) for e in res.failed_critical] == [("range:value", 2, 2)]


@pytest.mark.slow
@pytest.mark.parametrize(("roster", "fails"), [(2, True), (3, False)])
def test_a_failed_raw_gate_takes_the_nights_partitions_back_out_of_raw(settings, roster, fails):
    """Issue 19 item 8: write -> audit -> keep. Night D's roster keeps `roster` of the previous
    night's 3 employees (the critical row count wants ceil(80%) = 3): at 2 the gate fails after the
    load and every partition the run loaded leaves raw again (raw checksum-equal to before, no
    ledger row for D); at 3 the night stays loaded."""
    from fixtures.nights import minimal_night_as_of, write_night
    from vigil.pipeline import audit_raw, extract_feed, load_feed
    from vigil.gates.quality import QualityGateFailed
    from vigil.ingest.contract import FEEDS
    from vigil.store.warehouse import Warehouse

    def load(day, data, run_id):
        write_night(Path(settings.landing), day, data)
        for feed in FEEDS:
            load_feed(settings, extract_feed(settings, feed, day, run_id))

    load(PREV, minimal_night_as_of(PREV), "night-before")
    wh = Warehouse.open(settings.warehouse)
    before = wh.table_checksums(("raw",))
    night = minimal_night_as_of(D)
    night["hr"]["employees"] = night["hr"]["employees"][:roster]
    load(D, night, "tonight")
    assert wh.table_checksums(("raw",)) != before

    if not fails:
        audit_raw(settings, D, "tonight", alert=False)
        assert query(settings.warehouse, "SELECT count(*) FROM raw._vigil_loads WHERE feed_date = %s", (D,))[0][0] > 0
        return
    with pytest.raises(QualityGateFailed, match="row_count"):
        audit_raw(settings, D, "tonight", alert=False)
    assert wh.table_checksums(("raw",)) == before
    assert query(settings.warehouse, "SELECT count(*) FROM raw._vigil_loads WHERE feed_date = %s", (D,)) == [(0,)]
    [(details,)] = query(settings.warehouse, "SELECT details FROM audit.audit_log WHERE event = 'raw_discarded'")
    assert "raw.hr__employees" in details and "row_count" in details and "tonight" in details
    # the gate again alone (an Airflow task cleared without its loads) refuses, rather than pass on nothing
    with pytest.raises(RuntimeError, match=r"night 2026-03-02 is not loaded \(hr/employees, .*run its loads first"):
        audit_raw(settings, D, "tonight", alert=False)


@pytest.mark.postgres
def test_discarding_a_run_on_postgres_restores_raw(settings, pg_url):
    """The same take-back on PostgreSQL (no gate needed): raw checksum-equal to before night D."""
    from dataclasses import replace

    from fixtures.nights import minimal_night_as_of, write_night
    from vigil.pipeline import extract_feed, load_feed
    from vigil.ingest.contract import FEEDS
    from vigil.store.warehouse import Warehouse

    s = replace(settings, warehouse=pg_url)
    for day, run_id in ((PREV, "night-before"), (D, "tonight")):
        write_night(Path(s.landing), day, minimal_night_as_of(day))
        if day == D:
            before = Warehouse.open(pg_url).table_checksums(("raw",))
        for feed in FEEDS:
            load_feed(s, extract_feed(s, feed, day, run_id))
    wh = Warehouse.open(pg_url)
    assert wh.table_checksums(("raw",)) != before
    assert "raw.hr__employees" in wh.discard_run(D, "tonight")
    assert wh.table_checksums(("raw",)) == before
# ------------------------------------------------------------------------- Data Docs offline
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # no network at all: every host name fails to resolve, any proxy is a dead port
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                  "--virtual-time-budget=5000"]


def chromium_dom(page) -> str:
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is missing: scripts/ensure-services.sh (run by make test) installs it"
    out = subprocess.run([exe, *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout


def external_resources(html: str) -> list[str]:
    """http(s) addresses a page would fetch: script/img src, <link href>, CSS url()."""
    import re

    return (re.findall(r'<(?:script|img|iframe)[^>]*\ssrc="(https?://[^"]*)"', html)
            + re.findall(r'<link[^>]*\shref="(https?://[^"]*)"', html)
            + re.findall(r"url\(['\"]?(https?://[^)'\"]*)", html))


def test_data_docs_render_offline_in_headless_chromium(gate, tmp_path):
    """A bank workstation has no CDN: the index's validation table is drawn from local files only."""
    url = str(tmp_path / "wh" / "vigil.duckdb")
    load_nights(url, {PREV: clean_night(20), D: dirty_night()})
    res = gate.run(url, "raw", ["hr__employees", "iam__accounts"], run_date=D, run_id="offline-docs")
    index = res.data_docs_index
    pages = [index, *sorted((gate.data_docs_dir / "validations").rglob("offline-docs/*/*.html")),
             *sorted((gate.data_docs_dir / "expectations").rglob("*.html"))]
    assert len(pages) >= 1 + 4 + 4
    for page in pages:
        html = page.read_text()
        assert external_resources(html) == [], page
        for local in re.findall(r'<(?:script|link)[^>]*\s(?:src|href)="([^"?#]+)', html):  # each one is there
            assert (page.parent / local).is_file(), (page, local)

    dom = chromium_dom(index)
    table = dom.split('id="section-1-content-block-2-1-body-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*data-index=", table)  # rows bootstrap-table drew from the page's data
    assert len(rows) >= 4
    assert "raw.hr__employees.critical" in table and "raw.iam__accounts.warning" in table
    assert "ge-failed-icon" in table and "ge-success-icon" in table  # the dirty night failed, the other passed
    validation = next(p for p in pages if "hr__employees/critical" in p.as_posix() and "validations" in p.parts)
    assert "employee_id" in chromium_dom(validation)  # a validation page opens offline too


@pytest.mark.slow  # a fresh interpreter imports GX: ~10 s alone, ~24 s on a busy machine
def test_a_process_that_ran_gx_on_duckdb_exits_without_nanobind_leak_pages(tmp_path):
    """duckdb's bindings used to print pages of 'nanobind: leaked …' when such a process exited
    (airflow dags test, pytest); vigil.gates.quality.engines frees DuckDB's objects first."""
    code = textwrap.dedent(f"""
        import sqlalchemy as sa
        import vigil.gates.quality.engines  # GX + duckdb-engine, as a gate loads them
        engine = sa.create_engine("duckdb:///{tmp_path / 'w.duckdb'}")
        with engine.connect() as con:
            print(con.exec_driver_sql("SELECT 1 AS a, 'x' AS b, DATE '2026-03-01' AS c, [1] AS d").fetchall())
        engine.dispose()
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "(1, 'x'" in run.stdout
    assert "nanobind" not in run.stderr, run.stderr[:500]
