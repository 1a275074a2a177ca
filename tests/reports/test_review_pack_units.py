"""Review pack building blocks that need no warehouse: quarters, the XLSX writer's text safety, formats."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal

import pytest

from vigil.reports import Quarter, parse_quarter, quarter_for_run
from vigil.reports.data import ReviewData, Table
from vigil.reports.pdf import fmt_value
from vigil.reports.xlsx import FORMULA_PREFIXES, is_formula_like, write_xlsx


# --------------------------------------------------------------------------- quarters


@pytest.mark.parametrize("text, start, end", [
    ("2026Q1", dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    ("2026Q2", dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    ("2026Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
    ("2026Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
    ("2024-q1", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
])
def test_parse_quarter_gives_both_inclusive_ends(text, start, end):
    assert parse_quarter(text) == (start, end)


@pytest.mark.parametrize("text", ["2026Q0", "2026Q5", "26Q1", "2026", "Q1 2026", "", "2026Q1x", "1899Q4"])
def test_parse_quarter_refuses_anything_else(text):
    with pytest.raises(ValueError, match="not a quarter"):
        parse_quarter(text)


def test_quarter_arithmetic_at_the_boundaries():
    assert Quarter.of(dt.date(2026, 3, 31)).label == "2026Q1"
    assert Quarter.of(dt.date(2026, 4, 1)).label == "2026Q2"
    assert Quarter.of(dt.date(2026, 12, 31)).label == "2026Q4"
    # the quarter "just ended" on its successor's first day, not on its own last day
    assert Quarter.just_ended(dt.date(2026, 4, 1)).label == "2026Q1"
    assert Quarter.just_ended(dt.date(2026, 3, 31)).label == "2025Q4"
    assert Quarter.just_ended(dt.date(2027, 1, 1)).label == "2026Q4"
    q = Quarter.parse("2024Q1")
    assert q.days == 91 and q.months == [dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert q.kpi_label == "2024-Q1" and q.previous().label == "2023Q4" and q.next().label == "2024Q2"


def test_a_quarterly_run_builds_the_quarter_that_ended_before_its_interval_end():
    utc = dt.timezone.utc
    # scheduled: the run at 2026-04-01 06:00 has the interval 2026-01-01 06:00 .. 2026-04-01 06:00
    assert quarter_for_run(dt.datetime(2026, 4, 1, 6, tzinfo=utc), dt.datetime(2026, 1, 1, 6, tzinfo=utc)).label \
        == "2026Q1"
    assert quarter_for_run(dt.datetime(2027, 1, 1, 6, tzinfo=utc)).label == "2026Q4"
    # a manual run in mid-April: its interval ends at the last schedule point, 1 April
    assert quarter_for_run(dt.datetime(2026, 4, 1, 6, tzinfo=utc), dt.datetime(2026, 4, 15, tzinfo=utc)).label \
        == "2026Q1"
    # the day before a quarter ends is still inside it: the previous one is the last that ended
    assert quarter_for_run(None, dt.datetime(2026, 3, 31, 23, 59, tzinfo=utc)).label == "2025Q4"
    assert quarter_for_run(dt.datetime(2026, 4, 1, 6, tzinfo=utc), override="2025q3").label == "2025Q3"
    with pytest.raises(ValueError):
        quarter_for_run(None, None)


# --------------------------------------------------------------------------- XLSX text safety

RISKY = ["=1+2", "+SUM(1)", "-2+3", "@cmd", "\t=1+2", "\r=1+2", "\x00=1+2", "=cmd|' /C calc'!A0",
         '=HYPERLINK("http://x","click")']
SAFE = ["a=1", " =1+2", "手机银行", "O'Brien, Siobhán", "Anna\nMaria", "E0000017", "0000017", "1e5", "TRUE"]


def _ooxml_decode(value: str) -> str:
    """Excel's escape for control characters in shared strings: _xHHHH_."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def _review(table: Table) -> ReviewData:
    from vigil.reports.quarter import Quarter

    data = ReviewData(quarter=Quarter.parse("2026Q1"), as_of=dt.date(2026, 3, 31), complete=True, engine="duckdb",
                      run_id="r", generated_at=dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc), viewer_role=None,
                      identified=False, facts=[("Quarter", "2026Q1"), ("Odd", "=not a formula")])
    data.add(table)
    return data


def test_every_formula_prefix_is_written_as_quoted_text_and_numbers_stay_numbers(tmp_path):
    import openpyxl

    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r", "\x00"}
    when = dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    values = RISKY + SAFE
    numbers = [42, 3.5, Decimal("0.8421"), -7, 0]
    rows = [(v, n, dt.date(2026, 3, 31), when, True, None) for v, n in zip(values, numbers * 4)]
    path = write_xlsx(_review(Table("Mixed", "mixed", ["text", "number", "day", "at", "flag", "empty"], rows)),
                      tmp_path / "t.xlsx")

    wb = openpyxl.load_workbook(path)
    ws = wb["Mixed"]
    header = [c.value for c in ws[3]]
    assert header == ["text", "number", "day", "at", "flag", "empty"]
    for (value, number, *_), cells in zip(rows, ws.iter_rows(min_row=4)):
        text, num, day, at, flag, empty = cells
        assert text.data_type == "s" and _ooxml_decode(text.value) == value
        assert text.quotePrefix is is_formula_like(value) is (value in RISKY)
        assert num.data_type == "n" and num.value == pytest.approx(float(number))
        assert day.is_date and day.value == dt.datetime(2026, 3, 31)
        assert at.is_date and at.value == dt.datetime(2026, 3, 31, 23, 59, 59)  # UTC
        assert flag.value is True and empty.value is None
    about = wb["About"]
    assert [(c.value, c.quotePrefix) for c in about["B"] if c.value == "=not a formula"] == [("=not a formula", True)]
    with zipfile.ZipFile(path) as z:  # no cell anywhere is a formula
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


def test_formats_follow_the_kpi_unit():
    assert fmt_value(0.8421, "share") == "84.2%"
    assert fmt_value(1.0, "share") == "100.0%"
    assert fmt_value(-0.3, "change") == "-30.0%"
    assert fmt_value(0.0321, "change") == "+3.2%"
    assert fmt_value(18.06, "hours") == "18.1 h"
    assert fmt_value(2.0, "count") == "2"
    assert fmt_value(None, "share") == "–"
    assert fmt_value(dt.date(2026, 3, 31)) == "2026-03-31"
    assert fmt_value("a\nb\tc\x00") == "a b c"
