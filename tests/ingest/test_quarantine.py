"""Row-level defects: up to the quarantine share (default 1%) they are set aside with their line,
column and rule, reported and excluded; above it the file fails. HR key defects always fail."""

from __future__ import annotations

import copy

import duckdb
import pytest

from fixtures.nights import D, MINIMAL_NIGHT, write_night
from vigil.pipeline import extract_feed, load_feed
from vigil.ingest.reader import FeedError

ROSTER = 200  # 2 bad rows are exactly 1%


def roster(n: int = ROSTER) -> list[dict]:
    base = MINIMAL_NIGHT["hr"]["employees"][0]
    return [dict(base, employee_id=f"{100000 + i}", full_name=f"Person {i}", national_id=f"NID-{i:05d}",
                 email=f"p{i}@bank.test", manager_id="") for i in range(n)]


def night_with(settings, broken: dict[int, dict]) -> None:
    """A valid night whose roster has `ROSTER` people, rows `broken` (0-based) changed as given."""
    data = copy.deepcopy(MINIMAL_NIGHT)
    rows = roster()
    for i, change in broken.items():
        rows[i].update(change)
    data["hr"]["employees"] = rows
    data["hr"]["performance"] = []
    data["hr"]["assets"] = []
    write_night(settings.landing, D, data)


def staged_employees(out: dict) -> dict:
    return next(t for t in out["tables"] if t["table"] == "employees")


@pytest.mark.parametrize("n_bad", [1, 2])
def test_bad_rows_up_to_one_percent_are_quarantined_and_excluded(settings, n_bad):
    night_with(settings, {i: {"hire_date": "2026-02-30"} for i in range(n_bad)})
    out = extract_feed(settings, "hr", D, "run-q")
    emp = staged_employees(out)
    assert (emp["rows"], emp["rejected_rows"]) == (ROSTER - n_bad, n_bad)
    assert any("quarantined" in w and f"{n_bad} of {ROSTER} rows" in w for w in out["warnings"])
    load_feed(settings, out)
    con = duckdb.connect(settings.warehouse, read_only=True)
    try:
        rejected = con.execute("SELECT feed, table_name, feed_date, source_file, source_line, column_name, rule "
                               "FROM raw._vigil_rejected_rows ORDER BY source_line").fetchall()
        loaded = con.execute("SELECT count(*), min(_source_line) FROM raw.hr__employees").fetchall()[0]
        text = repr(con.execute("SELECT * FROM raw._vigil_rejected_rows").fetchall())
    finally:
        con.close()
    # header is line 1: the broken rows are lines 2..; the rest keep their own physical lines
    assert rejected == [("hr", "employees", D, "hr/2026-03-02/employees.csv", 2 + i, "hire_date",
                         "expected a date (YYYY-MM-DD)") for i in range(n_bad)]
    assert loaded == (ROSTER - n_bad, 2 + n_bad)
    assert "2026-02-30" not in text and "Person" not in text  # where and why, never the values


def test_above_one_percent_the_file_fails_and_nothing_is_staged(settings):
    night_with(settings, {i: {"hire_date": "2026-02-30"} for i in range(3)})
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "hr", D, "run-q")
    msg = str(e.value)
    assert "hr/2026-03-02/employees.csv" in msg and "line 2, column hire_date" in msg
    assert "3 of 200 rows (1.50%)" in msg and "more than the 1.00% that may be quarantined" in msg


def test_the_share_is_configurable(settings):
    night_with(settings, {i: {"employment_type": "intern"} for i in range(3)})
    out = extract_feed(settings.with_(quarantine_max_share=0.02), "hr", D, "run-q")
    assert staged_employees(out)["rejected_rows"] == 3
    with pytest.raises(FeedError):
        extract_feed(settings.with_(quarantine_max_share=0.0), "hr", D, "run-q")


@pytest.mark.parametrize(("change", "expected"), [
    ({"employee_id": ""}, "column employee_id: empty: a value is required"),
    ({"status": "active", "termination_date": "2026-03-01"}, "employee is both active"),
    ({"status": "notice", "notice_date": "2026-02-01", "termination_date": "2026-03-02"}, "employee is both active"),
    ({"status": "terminated", "termination_date": ""}, "needs a termination_date"),
])
def test_hr_key_defects_always_fail_even_one_row(settings, change, expected):
    night_with(settings, {7: change})
    with pytest.raises(FeedError) as e:
        extract_feed(settings, "hr", D, "run-q")
    assert expected in str(e.value) and "line 9" in str(e.value)


def test_notice_with_a_termination_date_after_the_feed_date_is_fine(settings):
    """Boundary of 'both active and terminated': leaving tomorrow is a notice period, not a defect."""
    night_with(settings, {7: {"status": "notice", "notice_date": "2026-02-01", "termination_date": "2026-03-03"}})
    assert staged_employees(extract_feed(settings, "hr", D, "run-q"))["rejected_rows"] == 0


def test_duplicate_keys_are_never_quarantined(settings):
    night_with(settings, {1: {"employee_id": "100000"}})
    with pytest.raises(FeedError, match="duplicate key employee_id='100000'"):
        extract_feed(settings, "hr", D, "run-q")
