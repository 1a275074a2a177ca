"""Bad input: every case gets a clear error naming feed, file, line and column, and loads nothing."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from fixtures.nights import D, MINIMAL_NIGHT, write_csv, write_night
from vigil.pipeline import extract_feed, load_feed
from vigil.ingest.contract import table
from vigil.ingest.reader import FeedError
from vigil.store.warehouse import Warehouse

EMPLOYEES = table("hr", "employees")


def employees_path(settings, date=D) -> Path:
    return Path(settings.landing) / "hr" / date.isoformat() / "employees.csv"


def extract_hr(settings, date=D):
    return extract_feed(settings, "hr", date, "test-run")


def write_employees_text(settings, text: str | bytes) -> Path:
    path = employees_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


HEADER = ",".join(EMPLOYEES.column_names)
GOOD_ROW = "000101,Anna Smith,AB123456C,anna@bank.test,Payments,Clerk,,permanent,2019-04-01,,active,,,"


def test_valid_night_stages_every_table_with_types_and_lines(settings, night):
    out = extract_hr(settings)
    staged = {t["table"]: t for t in out["tables"]}
    assert set(staged) == {"employees", "performance", "job_changes", "assets"}
    assert staged["employees"]["rows"] == 3
    rows = duckdb.sql(
        f"SELECT employee_id, hire_date, termination_date, _source_line FROM '{staged['employees']['staged_path']}' ORDER BY 1"
    ).fetchall()
    assert rows[0] == ("000101", dt.date(2019, 4, 1), None, 2)  # leading zeros survive; header is line 1
    assert rows[1][2] == dt.date(2026, 2, 27)


def test_missing_required_file(settings, night):
    employees_path(settings).unlink()
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert "hr/2026-03-02/employees.csv" in str(e.value) and "required file is missing" in str(e.value)


def test_missing_feed_folder(settings):
    with pytest.raises(FeedError, match=r"no delivery: folder .*hr/2026-03-02 does not exist"):
        extract_hr(settings)


def test_renamed_column_is_named_with_a_hint(settings, night):
    cols = list(EMPLOYEES.column_names)
    cols[cols.index("hire_date")] = "hiredate"
    write_csv(employees_path(settings), cols, [{**MINIMAL_NIGHT["hr"]["employees"][0], "hiredate": "2019-04-01"}])
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    p = e.value.first
    assert (p.line, p.column) == (1, "hire_date")
    assert "missing" in p.message and "'hiredate': renamed?" in p.message


def test_missing_column(settings, night):
    cols = [c for c in EMPLOYEES.column_names if c != "status"]
    write_csv(employees_path(settings), cols, MINIMAL_NIGHT["hr"]["employees"])
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (1, "status")


def test_unparseable_date_names_line_column_and_value(settings, night):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[2]["hire_date"] = "2015-02-30"  # the right shape, an impossible day
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    p = e.value.first
    assert (p.line, p.column) == (4, "hire_date")
    assert "'2015-02-30'" in p.message and "YYYY-MM-DD" in p.message
    assert "hr feed, hr/2026-03-02/employees.csv" in str(e.value)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("status", "actve", "expected one of: active, notice, leave, terminated"),
        ("hire_date", "01/04/2019", "YYYY-MM-DD"),
        ("employment_type", "", "a value is required"),
    ],
)
def test_value_rules(settings, night, column, value, expected):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[1][column] = value
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (3, column)
    assert expected in e.value.first.message


def test_timestamps_need_an_offset_and_booleans_are_true_or_false(settings, night):
    accounts = copy.deepcopy(MINIMAL_NIGHT["iam"]["accounts"])
    accounts[0]["last_login_at"] = "2026-03-02T08:00:00"  # no offset: ambiguous for due times
    accounts[1]["is_privileged"] = "yes"
    write_csv(Path(settings.landing) / "iam" / D.isoformat() / "accounts.csv", list(table("iam", "accounts").column_names), accounts)
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "iam", D, "t")
    found = {(p.line, p.column) for p in e.value.problems if p.line is not None}
    assert found == {(2, "last_login_at"), (3, "is_privileged")}
    # Both rows of a two-row file break the contract: far above the share that may be quarantined.
    [share] = [p for p in e.value.problems if p.line is None]
    assert "2 of 2 rows" in share.message and "quarantined" in share.message


def test_rating_out_of_range_is_a_boundary(settings, night):
    path = Path(settings.landing) / "hr" / D.isoformat() / "performance.csv"
    cols = list(table("hr", "performance").column_names)
    write_csv(path, cols, [dict(employee_id="1", period_end="2025-06-30", rating="5"),
                           dict(employee_id="1", period_end="2025-12-31", rating="1")])
    extract_hr(settings)  # 1 and 5 are the edges of the scale, both valid
    write_csv(path, cols, [dict(employee_id="1", period_end="2025-06-30", rating="6")])
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (2, "rating")


def test_wrong_delimiter(settings, night):
    write_employees_text(settings, HEADER.replace(",", ";") + "\n" + GOOD_ROW.replace(",", ";") + "\n")
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 1 and "semicolons" in e.value.first.message


def test_empty_file(settings, night):
    write_employees_text(settings, b"")
    with pytest.raises(FeedError, match="empty file"):
        extract_hr(settings)


def test_header_only_snapshot_is_a_source_error(settings, night):
    write_employees_text(settings, HEADER + "\n")
    with pytest.raises(FeedError, match="header-only"):
        extract_hr(settings)


def test_header_only_incremental_feed_is_a_quiet_night(settings, night):
    for name in ("complaints", "complainants"):
        t = table("complaints", name)
        write_csv(Path(settings.landing) / "complaints" / D.isoformat() / f"{name}.csv", list(t.column_names), [])
    out = extract_feed(settings, "complaints", D, "t")
    assert [t["rows"] for t in out["tables"]] == [0, 0]


def test_duplicate_keys_name_every_line(settings, night):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows.append({**rows[0], "full_name": "Someone Else"})
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert "duplicate key employee_id='000101' (lines 2, 5)" in str(e.value)


def test_non_utf8_bytes(settings, night):
    write_employees_text(settings, (HEADER + "\n" + GOOD_ROW + "\n").encode() + b"000102,Bj\xf6rn,X,,,,,permanent,2020-01-01,,active,,,\n")
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 3 and "not UTF-8" in e.value.first.message


def test_ragged_row(settings, night):
    write_employees_text(settings, HEADER + "\n" + GOOD_ROW + "\n" + GOOD_ROW.replace("000101", "000102") + ",extra\n")
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 3 and "more fields than the header" in e.value.first.message


def test_bom_and_crlf_are_tolerated(settings, night):
    text = "\ufeff" + HEADER + "\r\n" + GOOD_ROW + "\r\n"
    write_employees_text(settings, text.encode("utf-8"))
    out = extract_hr(settings)
    staged = next(t for t in out["tables"] if t["table"] == "employees")
    assert staged["rows"] == 1
    assert duckdb.sql(f"SELECT employee_id, status FROM '{staged['staged_path']}'").fetchall() == [("000101", "active")]


def test_quoted_newline_keeps_physical_line_numbers(settings, night):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[0]["position"] = "Clerk\nsecond line"
    rows[2]["hire_date"] = "bad"
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 5  # header, 2 lines for row 1, row 2, then row 3


def test_unknown_extra_column_is_ignored_with_a_warning(settings, night):
    cols = list(EMPLOYEES.column_names) + ["favourite_colour"]
    write_csv(employees_path(settings), cols, MINIMAL_NIGHT["hr"]["employees"])
    out = extract_hr(settings)
    assert any("favourite_colour" in w and "ignored" in w for w in out["warnings"])
    staged = next(t for t in out["tables"] if t["table"] == "employees")
    columns = [r[0] for r in duckdb.sql(f"DESCRIBE SELECT * FROM '{staged['staged_path']}'").fetchall()]
    assert "favourite_colour" not in columns


def _manifest(settings, files: dict) -> None:
    path = Path(settings.landing) / "hr" / D.isoformat() / "_manifest.json"
    path.write_text(json.dumps({"feed": "hr", "date": D.isoformat(), "files": files}))


def _hr_manifest_entries(settings) -> dict:
    folder = Path(settings.landing) / "hr" / D.isoformat()
    out = {}
    for p in sorted(folder.glob("*.csv")):
        rows = len(p.read_text().splitlines()) - 1
        out[p.name] = {"rows": rows, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
    return out


def test_matching_manifest_passes(settings, night):
    _manifest(settings, _hr_manifest_entries(settings))
    assert extract_hr(settings)["tables"]


def test_manifest_row_count_mismatch(settings, night):
    files = _hr_manifest_entries(settings)
    files["employees.csv"]["rows"] = 4
    _manifest(settings, files)
    with pytest.raises(FeedError, match=r"employees.csv: 3 data rows, the manifest says 4"):
        extract_hr(settings)


def test_manifest_checksum_mismatch(settings, night):
    files = _hr_manifest_entries(settings)
    files["employees.csv"]["sha256"] = "0" * 64
    _manifest(settings, files)
    with pytest.raises(FeedError, match="sha256 does not match the manifest"):
        extract_hr(settings)


def _manifest_with(settings, **fields) -> None:
    path = Path(settings.landing) / "hr" / D.isoformat() / "_manifest.json"
    path.write_text(json.dumps({"feed": "hr", "date": D.isoformat(), "files": _hr_manifest_entries(settings)}
                               | fields))


def test_manifest_staleness_evidence_reaches_the_load_ledger(settings, night):
    """extracted_at (any time zone, stored in UTC), source_watermark and as_of: what the breakers
    read to tell a quiet day from a stuck extract."""
    _manifest_with(settings, extracted_at="2026-03-03T02:15:00+01:00", source_watermark=8812, as_of=D.isoformat())
    out = extract_hr(settings)
    assert out["evidence"]["employees"] == {"extracted_at": "2026-03-03T01:15:00+00:00", "source_watermark": "8812",
                                            "as_of": D.isoformat()}
    load_feed(settings, out)
    con = duckdb.connect(settings.warehouse, read_only=True)
    row = con.execute("SELECT extracted_at, source_watermark, as_of FROM raw._vigil_loads "
                      "WHERE table_name = 'employees' AND feed_date = ?", [D]).fetchone()
    con.close()
    assert row == ("2026-03-03T01:15:00+00:00", "8812", D)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("extracted_at", "2026-03-03T02:15:00", "extracted_at must be an ISO 8601 time with a time zone"),
    ("extracted_at", "yesterday", "extracted_at must be an ISO 8601 time with a time zone"),
    ("as_of", "03/03/2026", "as_of must be a date YYYY-MM-DD"),
    ("source_watermark", "", "source_watermark must be a non-empty string or an integer"),
])
def test_bad_staleness_evidence_in_the_manifest_is_a_one_line_error(settings, night, field, value, message):
    _manifest_with(settings, **{field: value})
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert message in str(e.value) and "hr/2026-03-02/_manifest.json" in str(e.value)
    assert f"column {field}" in str(e.value) and len(str(e.value).splitlines()) == 1


def test_manifest_listing_a_file_not_delivered(settings, night):
    files = _hr_manifest_entries(settings)
    files["bonus.csv"] = {"rows": 1}
    _manifest(settings, files)
    with pytest.raises(FeedError, match="manifest lists bonus.csv but it was not delivered"):
        extract_hr(settings)


def test_parquet_delivery_goes_through_the_same_checks(settings, night):
    csv_path = employees_path(settings)
    pq = csv_path.with_suffix(".parquet")
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar=true)) TO '{pq}' (FORMAT parquet)")
    csv_path.unlink()
    out = extract_hr(settings)
    assert next(t for t in out["tables"] if t["table"] == "employees")["rows"] == 3
    bad = duckdb.sql(f"SELECT * REPLACE ('2019-13-01' AS hire_date) FROM read_parquet('{pq}')")
    bad.write_parquet(str(pq.with_suffix(".tmp")))
    pq.with_suffix(".tmp").replace(pq)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.column == "hire_date" and "employees.parquet" in str(e.value)


def test_same_file_as_the_previous_night_is_flagged_stale(settings, night):
    load_feed(settings, extract_hr(settings))
    next_day = D + dt.timedelta(days=1)
    write_night(Path(settings.landing), next_day, feeds=("hr",))  # byte-identical files
    result = load_feed(settings, extract_feed(settings, "hr", next_day, "t2"))
    stale = {t["table"]: t["stale"] for t in result["tables"]}
    assert stale["employees"] is True and stale["performance"] is True  # both recorded in the ledger
    assert any("employees: unchanged" in w for w in result["warnings"])
    # an unchanged history is normal: flagged, but not raised as a warning
    assert not any("performance" in w for w in result["warnings"])
    con = duckdb.connect(settings.warehouse, read_only=True)
    ledger = con.execute(
        "SELECT table_name, stale FROM raw._vigil_loads WHERE feed_date = ? ORDER BY 1", [next_day]).fetchall()
    con.close()
    assert ("employees", True) in ledger


def test_only_each_feeds_main_snapshot_unchanged_means_a_stuck_extract(settings, night):
    """Re-sent accounts = stuck extract (warned, the breaker holds); an entitlement list that did not
    change overnight is normal (recorded only)."""
    load_feed(settings, extract_feed(settings, "iam", D, "t"))
    next_day = D + dt.timedelta(days=1)
    write_night(Path(settings.landing), next_day, feeds=("iam",))  # byte-identical files
    result = load_feed(settings, extract_feed(settings, "iam", next_day, "t2"))
    stale = {t["table"]: t["stale"] for t in result["tables"]}
    assert stale["accounts"] is True and stale["entitlements"] is True
    assert [w for w in result["warnings"] if "unchanged" in w] == [
        f"iam/{next_day}/accounts: unchanged — byte-identical to the previous night's delivery (the circuit "
        "breakers decide whether it is a quiet day or a stuck extract)"]
    assert table("iam", "accounts").stale_is_suspicious and table("crm", "clients").stale_is_suspicious
    assert not table("iam", "entitlements").stale_is_suspicious


def test_reloading_a_night_replaces_only_that_partition(settings, night):
    load_feed(settings, extract_hr(settings))
    other = D + dt.timedelta(days=1)
    data = copy.deepcopy(MINIMAL_NIGHT)
    data["hr"]["employees"][0]["department"] = "Treasury"
    write_night(Path(settings.landing), other, data, feeds=("hr",))
    load_feed(settings, extract_feed(settings, "hr", other, "t2"))
    wh = Warehouse.open(settings.warehouse)
    before = wh.table_checksums(("raw",))
    # a corrected delivery for D replaces D's partition, and D's only
    data["hr"]["employees"][0]["department"] = "Risk"
    write_night(Path(settings.landing), D, data, feeds=("hr",))
    load_feed(settings, extract_hr(settings))
    con = duckdb.connect(settings.warehouse, read_only=True)
    depts = dict(con.execute(
        "SELECT _feed_date, department FROM raw.hr__employees WHERE employee_id = '000101'").fetchall())
    con.close()
    assert depts == {D: "Risk", other: "Treasury"}
    after = wh.table_checksums(("raw",))
    assert after["raw.hr__employees"] != before["raw.hr__employees"]
    assert after["raw.hr__employees"][0] == before["raw.hr__employees"][0]  # same count: replaced, not appended


def test_extract_never_opens_the_warehouse_so_it_runs_while_another_process_writes_to_it(settings, night):
    """The DAG runs the extracts beside source_freshness (dbt holding the DuckDB file): an extract
    that opened the warehouse would fail on DuckDB's one-writer lock."""
    import subprocess
    import sys

    warehouse = Path(settings.warehouse)
    warehouse.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
         "con.execute('CREATE TABLE held (x INT)'); print('held', flush=True); time.sleep(120)", str(warehouse)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(duckdb.IOException, match="(?i)lock"):  # the lock is real
            duckdb.connect(str(warehouse))
        for feed in ("hr", "iam", "crm", "complaints"):
            out = extract_feed(settings, feed, D, "test-run")
            assert out["tables"], feed
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- hostile input (issue 19, issue 20 item 3)


def _roster_of(n: int) -> list[dict]:
    base = MINIMAL_NIGHT["hr"]["employees"][0]
    return [dict(base, employee_id=f"{200000 + i}", manager_id="") for i in range(n)]


def test_a_64_mb_field_is_an_error_naming_its_line_never_a_dropped_row(settings, night, tmp_path_factory):
    """Line 9 of 150 rows holds a 64 MB position: the file fails at line 9; no row goes missing."""
    rows = _roster_of(150)
    rows[7]["position"] = "x" * (64 << 20)  # header is line 1, so row 8 is line 9
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 9 and "longer than 4 MiB" in e.value.first.message
    assert "hr/2026-03-02/employees.csv" in str(e.value)


def test_row_conservation_is_recorded_for_every_table(settings, night):
    """rows read + rows rejected = data lines in the file, for every table of every feed."""
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[0]["position"] = "Clerk\nwith a second line"  # 2 physical lines, 1 data line
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    for feed in ("hr", "iam", "crm", "complaints"):
        for t in extract_feed(settings, feed, D, "t")["tables"]:
            expected = len(MINIMAL_NIGHT[feed][t["table"]])
            assert (t["rows"], t["rejected_rows"], t["data_lines"]) == (expected, 0, expected), (feed, t["table"])


def test_row_conservation_counts_quarantined_rows(settings):
    from test_quarantine import night_with

    night_with(settings, {0: {"hire_date": "2026-02-30"}})
    emp = next(t for t in extract_hr(settings)["tables"] if t["table"] == "employees")
    assert (emp["rows"], emp["rejected_rows"], emp["data_lines"]) == (199, 1, 200)


def test_a_line_the_csv_reader_would_skip_fails_the_file(settings, night):
    """DuckDB skips an empty line without a word; the byte count of the file does not."""
    text = employees_path(settings).read_text()
    lines = text.split("\n")
    employees_path(settings).write_text("\n".join(lines[:2] + [""] + lines[2:]))
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert e.value.first.line == 3 and "empty line" in e.value.first.message


def test_a_2_gb_nul_tail_fails_fast_at_its_first_byte(settings, night):
    import os
    import time

    path = employees_path(settings)
    os.truncate(path, path.stat().st_size + (2 << 30))  # sparse: no disk space, no time to write
    started = time.perf_counter()
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert time.perf_counter() - started < 5  # reading stopped at the first NUL, not after 2 GB
    assert (e.value.first.line, e.value.first.column) == (5, "employee_id")
    assert "NUL byte" in e.value.first.message


@pytest.mark.parametrize("byte", [b"\x00", b"\x01", b"\x1f", b"\x7f"])
def test_control_characters_are_errors_with_line_and_column(settings, night, byte):
    write_employees_text(settings, (HEADER + "\n" + GOOD_ROW.replace("Payments", "Pay\x00ments") + "\n").encode()
                         .replace(b"\x00", byte))
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (2, "department")


def test_tab_cr_and_lf_inside_a_quoted_field_are_text(settings, night):
    write_employees_text(settings, HEADER + "\n" + GOOD_ROW.replace("Clerk", '"Clerk\tA\r\nB"') + "\n")
    staged = next(t for t in extract_hr(settings)["tables"] if t["table"] == "employees")
    assert (staged["rows"], staged["data_lines"]) == (1, 1)
    assert duckdb.sql(f"SELECT position FROM '{staged['staged_path']}'").fetchall() == [("Clerk\tA\r\nB",)]


@pytest.mark.parametrize("key", ["000101 ", " 000101", "000101\t"])
def test_a_key_with_surrounding_whitespace_is_not_a_new_person(settings, night, key):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows.append({**rows[0], "employee_id": key})
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:  # an HR key defect: never quarantined, whatever the share
        extract_feed(settings.with_(quarantine_max_share=0.5), "hr", D, "t")
    assert (e.value.first.line, e.value.first.column) == (5, "employee_id")
    assert "leading or trailing whitespace" in e.value.first.message


def test_an_enum_with_surrounding_whitespace_is_an_error(settings, night):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[2]["status"] = "active "
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert [(p.line, p.column) for p in e.value.problems if p.line] == [(4, "status")]  # one problem, not two
    assert "leading or trailing whitespace" in e.value.first.message


def _complaint_received(settings, received_at: str):
    t = table("complaints", "complaints")
    rows = copy.deepcopy(MINIMAL_NIGHT["complaints"]["complaints"])
    rows[0]["received_at"] = received_at
    write_csv(Path(settings.landing) / "complaints" / D.isoformat() / "complaints.csv", list(t.column_names), rows)
    return extract_feed(settings, "complaints", D, "t")


@pytest.mark.parametrize("received_at", [
    "2026-03-01T23:59:59Z",       # the day before: fine
    "2026-03-02T23:59:59Z",       # the feed date itself, last second: fine
    "2026-03-02T23:30:00-05:00",  # day D where it happened, although D + 1 in UTC: fine
])
def test_timestamps_up_to_the_end_of_the_feed_date_are_accepted(settings, night, received_at):
    assert _complaint_received(settings, received_at)["tables"][0]["rows"] == 1


@pytest.mark.parametrize("received_at", ["2026-03-03T00:00:00Z", "2026-03-03T00:30:00+01:00", "2099-03-01T10:00:00Z"])
def test_timestamps_after_the_feed_date_are_errors_with_line_and_column(settings, night, received_at):
    with pytest.raises(FeedError) as e:
        _complaint_received(settings, received_at)
    assert (e.value.first.line, e.value.first.column) == (2, "received_at")
    assert "after the feed date 2026-03-02" in e.value.first.message and received_at in e.value.first.message


def test_a_fifo_in_place_of_a_table_file_fails_at_once_instead_of_hanging(settings, night):
    import os
    import signal

    path = employees_path(settings)
    path.unlink()
    os.mkfifo(path)

    def hung(*_):
        raise TimeoutError("the extract hung on the named pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(FeedError) as e:
            extract_hr(settings)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert str(e.value) == ("hr feed, hr/2026-03-02/employees.csv: is a named pipe (FIFO), not a regular file; "
                            "only regular files are read")


def test_a_directory_in_place_of_a_table_file_is_named(settings, night):
    path = employees_path(settings)
    path.unlink()
    path.mkdir()
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert "hr feed, hr/2026-03-02/employees.csv: is a directory, not a regular file" in str(e.value)
    assert "Errno" not in str(e.value)


def test_cr_only_line_endings_name_the_file_and_line(settings, night):
    write_employees_text(settings, (HEADER + "\r" + GOOD_ROW + "\r").encode())
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert str(e.value).startswith("hr feed, hr/2026-03-02/employees.csv: line 1: lines end with a bare CR")


def _outside(settings) -> Path:
    outside = Path(settings.landing).parent / "elsewhere"
    outside.mkdir()
    return outside


def test_a_table_file_linked_outside_the_landing_is_refused_unless_allowed(settings, night):
    path = employees_path(settings)
    target = _outside(settings) / "employees.csv"
    path.replace(target)
    path.symlink_to(target)
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert "hr/2026-03-02/employees.csv: is a symbolic link to" in str(e.value)
    assert "outside the landing directory: refused (set VIGIL_LANDING_ALLOW_SYMLINKS=true" in str(e.value)
    out = extract_feed(settings.with_(landing_allow_symlinks=True), "hr", D, "t")
    assert next(t for t in out["tables"] if t["table"] == "employees")["rows"] == 3


def test_a_feed_folder_linked_outside_the_landing_is_refused_unless_allowed(settings, night):
    import shutil

    folder = Path(settings.landing) / "hr"
    target = _outside(settings) / "hr"
    shutil.move(folder, target)
    folder.symlink_to(target, target_is_directory=True)
    with pytest.raises(FeedError, match=r"hr feed, hr/2026-03-02/: is a symbolic link to .* outside the landing"):
        extract_hr(settings)
    assert extract_feed(settings.with_(landing_allow_symlinks=True), "hr", D, "t")["tables"]


def test_a_symlink_inside_the_landing_is_followed(settings, night):
    path = employees_path(settings)
    kept = path.parent.parent / "employees-kept.csv"
    path.replace(kept)
    path.symlink_to(kept)
    assert extract_hr(settings)["tables"][0]["rows"] == 3


@pytest.mark.parametrize(("value", "allowed"), [("", False), ("false", False), ("0", False), ("true", True), ("1", True)])
def test_allow_symlinks_setting(value, allowed):
    from vigil.config import Settings

    assert Settings.from_env({"VIGIL_LANDING_ALLOW_SYMLINKS": value}).landing_allow_symlinks is allowed


def test_allow_symlinks_setting_refuses_other_words():
    from vigil.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="VIGIL_LANDING_ALLOW_SYMLINKS must be true or false, not 'yes'"):
        Settings.from_env({"VIGIL_LANDING_ALLOW_SYMLINKS": "yes"})


@pytest.mark.parametrize(("termination_date", "ok"), [("2026-03-01", True), ("2026-03-02", True), ("2026-03-03", False)])
def test_terminated_with_a_termination_date_after_the_feed_date_is_an_error(settings, night, termination_date, ok):
    """Status terminated and a termination date after D contradict each other (a future leaver is on
    notice); on D itself the person left today. Never quarantined: it decides revocations."""
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[1]["termination_date"] = termination_date  # 000102, status terminated
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    if ok:
        assert extract_hr(settings)["tables"][0]["rows"] == 3
        return
    with pytest.raises(FeedError) as e:
        extract_feed(settings.with_(quarantine_max_share=0.5), "hr", D, "t")
    assert (e.value.first.line, e.value.first.column) == (3, "status")
    assert "'terminated': employee is terminated (status) with a termination_date after the feed date" in str(e.value)
# Issue 19 item 8: what the raw gate's critical expectations would catch only after the load is
# refused by the extract, with its file, line and column, so a failed night never reaches raw.

@pytest.mark.parametrize(("days_ahead", "fails"), [(364, False), (365, False), (366, True)])
def test_hire_date_more_than_365_days_ahead_is_refused_before_the_load(settings, night, days_ahead, fails):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    rows[2]["hire_date"] = (D + dt.timedelta(days=days_ahead)).isoformat()
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    if not fails:
        assert extract_hr(settings)["tables"][0]["rows"] == 3
        return
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (4, "hire_date")
    assert "more than 365 days after the feed date" in e.value.first.message
    assert "hr/2026-03-02/employees.csv" in str(e.value)


@pytest.mark.parametrize(("column", "days_before", "fails"),
                         [("hire_date", 1, True), ("hire_date", 0, False), ("notice_date", 1, True),
                          ("notice_date", 0, False)])
def test_termination_before_hire_or_notice_is_refused(settings, night, column, days_before, fails):
    rows = copy.deepcopy(MINIMAL_NIGHT["hr"]["employees"])
    leaver = rows[1]  # terminated 2026-02-27, hired 2021-01-04, notice 2026-02-01
    leaver[column] = (dt.date(2026, 2, 27) + dt.timedelta(days=days_before)).isoformat()
    write_csv(employees_path(settings), list(EMPLOYEES.column_names), rows)
    if not fails:
        extract_hr(settings)
        return
    with pytest.raises(FeedError) as e:
        extract_hr(settings)
    assert (e.value.first.line, e.value.first.column) == (3, "termination_date")
    assert f"termination_date before {column}" in e.value.first.message


def _iam_file(settings, name):
    return Path(settings.landing) / "iam" / D.isoformat() / f"{name}.csv"


def test_entitlement_without_its_account_is_refused_with_file_and_line(settings, night):
    ents = copy.deepcopy(MINIMAL_NIGHT["iam"]["entitlements"])
    ents.append(dict(system="AD", account_id="ghost", entitlement="admin", is_privileged="true",
                     granted_at="2020-01-01T00:00:00Z"))
    write_csv(_iam_file(settings, "entitlements"), list(table("iam", "entitlements").column_names), ents)
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "iam", D, "test-run")
    assert (e.value.first.line, e.value.first.column) == (4, "account_id")
    assert "iam/2026-03-02/entitlements.csv" in str(e.value) and "accounts.csv" in str(e.value)
    assert not (Path(settings.warehouse)).exists()  # nothing reached the warehouse


def test_entitlement_of_a_quarantined_account_is_refused(settings, night):
    """A null account_id in accounts (quarantined under the share) leaves its entitlements dangling:
    the extract says so with the entitlement's line, before the load."""
    from dataclasses import replace

    settings = replace(settings, quarantine_max_share=0.5)
    accounts = copy.deepcopy(MINIMAL_NIGHT["iam"]["accounts"])
    accounts.append(dict(accounts[1], account_id="u103", username="x3"))
    accounts[1]["account_id"] = ""  # u102 quarantined; its entitlement (line 3) has no account
    write_csv(_iam_file(settings, "accounts"), list(table("iam", "accounts").column_names), accounts)
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "iam", D, "test-run")
    assert (e.value.first.line, e.value.first.column) == (3, "account_id")
    assert "1 of its rows were quarantined" in str(e.value)
    # and all accounts present again: the same night extracts
    accounts[1]["account_id"] = "u102"
    write_csv(_iam_file(settings, "accounts"), list(table("iam", "accounts").column_names), accounts)
    assert extract_feed(settings, "iam", D, "test-run")["feed"] == "iam"
