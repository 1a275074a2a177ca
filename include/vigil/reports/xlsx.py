"""The review pack as a workbook (XlsxWriter): an About sheet, then one sheet per table.

Every table sheet has the same layout: row 1 its title, row 2 a note (may be empty), row 3 the
column names, then one row per record (header frozen, autofilter on).

Formula injection (OWASP "CSV injection"): text is only ever written with ``write_string``, the
workbook is opened with ``strings_to_formulas``/``strings_to_urls``/``strings_to_numbers`` off, and
a text cell starting with ``= + - @``, tab, carriage return or NUL also gets Excel's quote prefix
(the cell shows and keeps the text, and editing it cannot turn it into a formula). The text itself
is never altered. Numbers stay numbers, dates are dates (timestamps in UTC).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

from vigil.reports.data import TEST_DATA_LABEL, ReviewData, Table

#: First characters that make a spreadsheet treat a cell as a formula (or strip to one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")
MAX_COLUMN_WIDTH = 60


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


class _Formats:
    def __init__(self, wb):
        self.header = wb.add_format({"bold": True, "bg_color": "#DDE3EA", "border": 1, "text_wrap": True,
                                     "valign": "top"})
        self.title = wb.add_format({"bold": True, "font_size": 13})
        self.note = wb.add_format({"italic": True, "font_color": "#555555"})
        self.text = wb.add_format({})
        self.quoted = wb.add_format({"quote_prefix": True})
        self.date = wb.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.label = wb.add_format({"bold": True})
        self.test_data = wb.add_format({"bold": True, "font_size": 13, "font_color": "#B71C1C"})


def write_cell(ws, row: int, col: int, value, fmt: _Formats) -> int:
    """Write one value with its own type; returns the display width it needs."""
    if value is None:
        ws.write_blank(row, col, None)
        return 0
    if isinstance(value, bool):
        ws.write_boolean(row, col, value)
        return 5
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if math.isfinite(number):
            ws.write_number(row, col, number)
            return min(len(f"{number:g}") + 2, 20)
        ws.write_string(row, col, str(value))
        return len(str(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        ws.write_datetime(row, col, value, fmt.datetime)
        return 19
    if isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fmt.date)
        return 10
    text = str(value)
    ws.write_string(row, col, text, fmt.quoted if is_formula_like(text) else fmt.text)
    return max((len(line) for line in text.splitlines() or [""]), default=0)


def _write_table(wb, fmt: _Formats, table: Table, *, test_data: bool = False) -> None:
    ws = wb.add_worksheet(table.name)
    ws.write_string(0, 0, (f"{TEST_DATA_LABEL}: " if test_data else "") + table.title,
                    fmt.test_data if test_data else fmt.title)  # row 1: title; row 2: note; row 3: header; then the rows
    if table.note:
        ws.write_string(1, 0, table.note, fmt.note)
    start = 2
    widths = [len(c) + 2 for c in table.columns]
    for c, name in enumerate(table.columns):
        ws.write_string(start, c, name, fmt.header)
    for r, row in enumerate(table.rows, start=start + 1):
        for c, value in enumerate(row):
            widths[c] = max(widths[c], write_cell(ws, r, c, value, fmt) + 1)
    for c, w in enumerate(widths):
        ws.set_column(c, c, min(w, MAX_COLUMN_WIDTH))
    ws.freeze_panes(start + 1, 0)
    if table.columns:
        ws.autofilter(start, 0, start + max(len(table.rows), 1), len(table.columns) - 1)


def write_xlsx(data: ReviewData, path: Path) -> Path:
    import xlsxwriter

    path = Path(path)
    wb = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
        "constant_memory": False,
    })
    try:
        created = data.generated_at
        if created.tzinfo is not None:
            created = created.astimezone(dt.timezone.utc).replace(tzinfo=None)
        prefix = f"{TEST_DATA_LABEL}: " if data.test_data else ""
        wb.set_properties({"title": f"{prefix}Vigil quarterly review {data.quarter.label}", "author": "Vigil",
                           "comments": f"pack run {data.run_id}", "created": created,
                           "keywords": "test data, demo" if data.test_data else ""})
        fmt = _Formats(wb)
        about = wb.add_worksheet("About")
        about.write_string(0, 0, f"{prefix}Vigil quarterly compliance review {data.quarter.label}",
                           fmt.test_data if data.test_data else fmt.title)
        for i, (label, value) in enumerate(data.facts, start=2):
            about.write_string(i, 0, label, fmt.label)
            write_cell(about, i, 1, value, fmt)
        row = len(data.facts) + 3
        about.write_string(row, 0, "Sheets", fmt.label)
        for i, table in enumerate(data.tables.values(), start=row + 1):
            about.write_string(i, 0, table.name)
            about.write_string(i, 1, table.title)
            about.write_number(i, 2, len(table.rows))
        about.set_column(0, 0, 40)
        about.set_column(1, 1, 90)
        for table in data.tables.values():
            _write_table(wb, fmt, table, test_data=bool(data.test_data))
    finally:
        wb.close()
    return path
