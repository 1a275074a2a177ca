"""The bad-input catalogue: every kind of malformed delivery we know of, with its verdict.

Each case is a file (or a landing entry) as a broken or hostile source system would deliver it, and
the error it must get: the feed and file named, the line and column where they exist, a one-line
reason, and nothing staged (so nothing can be loaded). The cases run at reader level, on one DuckDB
connection, so the whole table takes seconds; tests/pipeline/test_bad_nights.py runs a few of them through
whole nights. A handful of odd but valid deliveries are listed at the end with their verdict: accepted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from fixtures.nights import D, MINIMAL_NIGHT, TEST_KEY
from vigil.ingest.contract import table
from vigil.ingest.pseudonymise import install_duckdb_key
from vigil.ingest.reader import FeedError, TableReader
from vigil.ingest.sources import LandingSource

NEXT_DAY = (D + dt.timedelta(days=1)).isoformat()


def csv_bytes(feed: str, name: str, change: dict[int, dict] | None = None, *, extra_rows: list[dict] = ()) -> bytes:
    """The minimal night's rows of one table, with rows (0-based) changed as given."""
    t = table(feed, name)
    rows = [dict(r) for r in MINIMAL_NIGHT[feed][name]] + list(extra_rows)
    for i, values in (change or {}).items():
        rows[i].update(values)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.column_names)
    for r in rows:
        w.writerow([r.get(c, "") for c in t.column_names])
    return buf.getvalue().encode()


EMP = csv_bytes("hr", "employees")
EMP_LINES = EMP.split(b"\n")  # header, 3 rows, ""


def emp_lines(lines: list[bytes], nl: bytes = b"\n") -> bytes:
    return nl.join(lines) + nl


def emp_with_line(index: int, line: bytes) -> bytes:
    """The roster with physical line `index` (1 = header) replaced."""
    lines = EMP_LINES[:-1]
    lines[index - 1] = line
    return emp_lines(lines)


def field_replaced(index: int, column: str, raw: bytes) -> bytes:
    """The roster with the raw bytes of one field of physical line `index` replaced (no quoting)."""
    header = EMP_LINES[0].split(b",")
    fields = next(csv.reader([EMP_LINES[index - 1].decode()]))
    encoded = [f.encode() for f in fields]
    encoded[header.index(column.encode())] = raw
    return emp_with_line(index, b",".join(encoded))


@dataclass(frozen=True)
class Case:
    kind: str
    feed: str
    table: str
    content: bytes | Callable[[Path], None]  # the file's bytes, or a function that makes the file
    line: int | None
    column: str | None
    says: str  # in the error message
    suffix: str = ".csv"


def _sparse_nul_tail(path: Path) -> None:
    path.write_bytes(EMP)
    os.truncate(path, 2 << 30)  # a 2 GB tail of NUL bytes that takes no disk space


def _big_quoted_field(path: Path) -> None:
    many_short_lines = b"x" * 60 + b"\n"
    path.write_bytes(field_replaced(3, "position", b'"' + many_short_lines * 80_000 + b'"'))


E, P = "hr", "employees"
CASES: list[Case] = [
    # ------------------------------------------------------------ the file as a whole
    Case("zero-byte file", E, P, b"", None, None, "empty file (0 bytes)"),
    Case("header-only snapshot", E, P, EMP_LINES[0] + b"\n", None, None, "header-only file"),
    Case("header not UTF-8", E, P, EMP_LINES[0].replace(b"position", b"posici\xf3n") + b"\n" + EMP.split(b"\n", 1)[1],
         1, None, "header is not UTF-8"),
    Case("UTF-16 file", E, P, EMP.decode().encode("utf-16"), 1, None, "header is not UTF-8"),
    Case("semicolon-separated", E, P, EMP.replace(b",", b";"), 1, None, "separated by semicolons"),
    Case("tab-separated", E, P, EMP.replace(b",", b"\t"), 1, None, "separated by tabs"),
    Case("pipe-separated", E, P, EMP.replace(b",", b"|"), 1, None, "separated by pipes"),
    Case("column missing", E, P, EMP.replace(b",status,", b",", 1), 1, "status", "required column is missing"),
    Case("column renamed", E, P, EMP.replace(b"hire_date", b"hiredate", 1), 1, "hire_date", "'hiredate': renamed?"),
    Case("column twice in the header", E, P, EMP.replace(b"department", b"position", 1), 1, "position",
         "column appears twice"),
    Case("header with a trailing space in a name", E, P, EMP.replace(b"hire_date", b"hire_date ", 1), 1, "hire_date",
         "required column is missing"),
    Case("CR-only line endings (classic Mac)", E, P, EMP.replace(b"\n", b"\r"), 1, None, "bare CR"),
    # ------------------------------------------------------------ bytes that are never text
    Case("2 GB sparse tail of NUL bytes", E, P, _sparse_nul_tail, 5, "employee_id", "NUL byte (0x00)"),
    Case("NUL byte inside a field", E, P, field_replaced(3, "position", b"Relationship\x00Manager"), 3, "position",
         "NUL byte (0x00)"),
    Case("SOH control character", E, P, field_replaced(3, "department", b"Private\x01Banking"), 3, "department",
         "control character 0x01"),
    Case("ESC control character", E, P, field_replaced(4, "position", b"\x1b[31mHead"), 4, "position",
         "control character 0x1b"),
    Case("DEL character", E, P, field_replaced(2, "department", b"Pay\x7fments"), 2, "department",
         "control character 0x7f"),
    Case("form feed", E, P, field_replaced(2, "position", b"Clerk\x0c"), 2, "position", "control character 0x0c"),
    Case("vertical tab", E, P, field_replaced(2, "position", b"Clerk\x0b"), 2, "position", "control character 0x0b"),
    Case("control character in a quoted field", E, P, field_replaced(2, "position", b'"Cl\x02erk"'), 2, "position",
         "control character 0x02"),
    Case("invalid UTF-8 in a row", E, P, field_replaced(3, "department", b"Priv\xe9"), 3, "department", "not UTF-8"),
    Case("UTF-8 surrogate bytes", E, P, field_replaced(3, "department", b"\xed\xa0\x80"), 3, "department", "not UTF-8"),
    # ------------------------------------------------------------ records
    Case("line over 4 MiB (5 MB field)", E, P, field_replaced(3, "position", b"x" * 5_000_000), 3, None,
         "line longer than 4 MiB"),
    Case("quoted field over 4 MiB in short lines", E, P, _big_quoted_field, 3, None, "longer than 4 MiB"),
    Case("blank line between rows", E, P, emp_lines(EMP_LINES[:2] + [b""] + EMP_LINES[2:-1]), 3, None, "empty line"),
    Case("blank lines at the end", E, P, EMP + b"\n\n", 5, None, "empty line"),
    Case("one blank line at the end", E, P, EMP + b"\n", 5, None, "empty line"),
    Case("a tail of 8 MB of line breaks", E, P, EMP + b"\n" * (8 << 20), 5, None,
         "256 empty lines in a row"),
    Case("blank CRLF line", E, P, emp_lines(EMP_LINES[:3] + [b""] + EMP_LINES[3:-1], b"\r\n"), 4, None, "empty line"),
    Case("whitespace-only line", E, P, emp_lines(EMP_LINES[:2] + [b"   "] + EMP_LINES[2:-1]), 3, "full_name",
         "fewer fields than the header"),
    Case("bare CR inside a row", E, P, field_replaced(3, "department", b"Private\rBanking"), 3, None, "bare CR"),
    Case("more fields than the header", E, P, emp_with_line(3, EMP_LINES[2] + b",extra"), 3, None,
         "more fields than the header"),
    Case("fewer fields than the header", E, P, emp_with_line(3, EMP_LINES[2].rsplit(b",", 3)[0]), 3, "notice_date",
         "fewer fields than the header"),
    Case("truncated last line (no newline)", E, P, EMP[:-40], 4, "manager_id", "fewer fields than the header"),
    Case("unterminated quote", E, P, field_replaced(4, "position", b'"Head of'), 4, "position", "malformed quoting"),
    Case("quote not doubled inside a quoted field", E, P, field_replaced(2, "position", b'"Cl"erk"'), 2, "position",
         "malformed quoting"),
    # ------------------------------------------------------------ values
    Case("key empty", E, P, csv_bytes(E, P, {1: {"employee_id": ""}}), 3, "employee_id", "a value is required"),
    Case("key with a trailing space", E, P, csv_bytes(E, P, {1: {"employee_id": "000102 "}}), 3, "employee_id",
         "leading or trailing whitespace"),
    Case("key with a leading space", E, P, csv_bytes(E, P, {1: {"employee_id": " 000102"}}), 3, "employee_id",
         "leading or trailing whitespace"),
    Case("key with a trailing tab", E, P, csv_bytes(E, P, {1: {"employee_id": "000102\t"}}), 3, "employee_id",
         "leading or trailing whitespace"),
    Case("reference with a trailing space", E, P, csv_bytes(E, P, {0: {"manager_id": "000103 "}}), 2, "manager_id",
         "leading or trailing whitespace"),
    Case("enum with a trailing space", E, P, csv_bytes(E, P, {0: {"status": "active "}}), 2, "status",
         "leading or trailing whitespace"),
    Case("enum with a leading space", E, P, csv_bytes(E, P, {2: {"employment_type": " permanent"}}), 4,
         "employment_type", "leading or trailing whitespace"),
    Case("enum in another case", E, P, csv_bytes(E, P, {0: {"status": "Active"}}), 2, "status",
         "expected one of: active, notice, leave, terminated"),
    Case("enum unknown", E, P, csv_bytes(E, P, {1: {"termination_reason": "fired"}}), 3, "termination_reason",
         "expected one of"),
    Case("required value empty", E, P, csv_bytes(E, P, {2: {"hire_date": ""}}), 4, "hire_date", "a value is required"),
    Case("impossible date", E, P, csv_bytes(E, P, {2: {"hire_date": "2015-02-30"}}), 4, "hire_date", "YYYY-MM-DD"),
    Case("date in D/M/Y", E, P, csv_bytes(E, P, {2: {"hire_date": "01/09/2015"}}), 4, "hire_date", "YYYY-MM-DD"),
    Case("date without zero padding", E, P, csv_bytes(E, P, {2: {"hire_date": "2015-9-1"}}), 4, "hire_date",
         "YYYY-MM-DD"),
    Case("terminated without a termination date", E, P, csv_bytes(E, P, {1: {"termination_date": ""}}), 3, "status",
         "needs a termination_date"),
    Case("active with a past termination date", E, P, csv_bytes(E, P, {0: {"termination_date": "2026-03-01"}}), 2,
         "status", "both active (status) and terminated"),
    Case("terminated with a future termination date", E, P, csv_bytes(E, P, {1: {"termination_date": NEXT_DAY}}), 3,
         "status", "termination_date after the feed date"),
    Case("duplicate key", E, P, csv_bytes(E, P, extra_rows=[dict(MINIMAL_NIGHT[E][P][0], full_name="Other")]), 5,
         "employee_id", "duplicate key employee_id='000101' (lines 2, 5)"),
    Case("rating below the scale", "hr", "performance", csv_bytes("hr", "performance", {0: {"rating": "0"}}), 2,
         "rating", "expected a value from 1 to 5"),
    Case("rating above the scale", "hr", "performance", csv_bytes("hr", "performance", {0: {"rating": "6"}}), 2,
         "rating", "expected a value from 1 to 5"),
    Case("rating with a fraction", "hr", "performance", csv_bytes("hr", "performance", {0: {"rating": "4.5"}}), 2,
         "rating", "a whole number"),
    Case("boolean as yes", "iam", "accounts", csv_bytes("iam", "accounts", {1: {"is_privileged": "yes"}}), 3,
         "is_privileged", "true or false"),
    Case("timestamp without an offset", "iam", "accounts",
         csv_bytes("iam", "accounts", {0: {"last_login_at": "2026-03-02T08:00:00"}}), 2, "last_login_at",
         "with an offset or Z"),
    Case("timestamp after the feed date", "iam", "accounts",
         csv_bytes("iam", "accounts", {0: {"last_login_at": f"{NEXT_DAY}T00:00:00+00:00"}}), 2, "last_login_at",
         "a timestamp after the feed date 2026-03-02"),
    Case("account key with a trailing space", "iam", "accounts", csv_bytes("iam", "accounts", {1: {"account_id": "u102 "}}),
         3, "account_id", "leading or trailing whitespace"),
    Case("duplicate composite key", "iam", "entitlements",
         csv_bytes("iam", "entitlements", extra_rows=[MINIMAL_NIGHT["iam"]["entitlements"][0]]), 4,
         "system,account_id,entitlement", "duplicate key"),
    Case("login in 2099", "iam", "logins", csv_bytes("iam", "logins", {0: {"login_at": "2099-01-01T08:00:00Z"}}), 2,
         "login_at", "after the feed date"),
    Case("complaint received in 2099", "complaints", "complaints",
         csv_bytes("complaints", "complaints", {0: {"received_at": "2099-03-01T10:00:00Z"}}), 2, "received_at",
         "a timestamp after the feed date 2026-03-02"),
    Case("complaint updated the day after", "complaints", "complaints",
         csv_bytes("complaints", "complaints", {0: {"updated_at": f"{NEXT_DAY}T00:30:00+01:00"}}), 2, "updated_at",
         "after the feed date"),
    Case("satisfaction out of range", "complaints", "complaints",
         csv_bytes("complaints", "complaints", {0: {"satisfaction": "9"}}), 2, "satisfaction", "from 1 to 5"),
    Case("amount with 3 decimals", "complaints", "complaints",
         csv_bytes("complaints", "complaints", {0: {"amount": "25.001"}}), 2, "amount", "at most 2 decimals"),
    Case("amount with a thousands separator", "crm", "clients", csv_bytes("crm", "clients", {0: {"aum": "1,500,000.50"}}),
         2, "aum", "a decimal number"),
    Case("channel in capitals", "complaints", "complaints",
         csv_bytes("complaints", "complaints", {0: {"channel": "Phone"}}), 2, "channel", "expected one of"),
    Case("segment with a trailing space", "crm", "clients", csv_bytes("crm", "clients", {0: {"segment": "corporate "}}),
         2, "segment", "leading or trailing whitespace"),
    Case("boolean in capitals", "complaints", "complainants",
         csv_bytes("complaints", "complainants", {0: {"insider_link": "TRUE"}}), 2, "insider_link", "true or false"),
    # ------------------------------------------------------------ Parquet deliveries
    Case("Parquet file that is not Parquet", E, P, b"PAR1 this is not parquet", None, None,
         "not a readable Parquet file", suffix=".parquet"),
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    install_duckdb_key(c, TEST_KEY)
    yield c
    c.close()


def _stage(con, tmp_path: Path, case: Case):
    t = table(case.feed, case.table)
    path = tmp_path / "landing" / case.feed / D.isoformat() / f"{t.name}{case.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    out = tmp_path / "staged" / f"{t.name}.parquet"
    display = f"{case.feed}/{D.isoformat()}/{path.name}"
    return TableReader(con, t, path, display, quarantine_share=0.0, feed_date=D), out, display


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_malformed_delivery_is_refused_naming_file_line_and_column(con, tmp_path, case):
    reader, out, display = _stage(con, tmp_path, case)
    with pytest.raises(FeedError) as e:
        reader.stage(out)
    message = str(e.value)
    assert message.startswith(f"{case.feed} feed, {display}: ")
    assert case.says in message
    first = e.value.first
    assert (first.line, first.column) == (case.line, case.column), message
    assert "\n" not in message or len(e.value.problems) > 1  # one line per problem
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing staged, so nothing can be loaded
    leftovers = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name <> '_vigil_hmac_key'").fetchall()
    assert leftovers == []  # the connection is clean for the next file
    assert "Anna" not in message and "AB123456C" not in message  # PII never echoed


# ---------------------------------------------------------------- landing entries that are not files


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


def _device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _outside_link(path: Path) -> None:
    outside = path.parent.parent.parent.parent / "elsewhere" / path.name
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(EMP)
    path.symlink_to(outside)


def _broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "gone.csv")


@dataclass(frozen=True)
class EntryCase:
    kind: str
    make: Callable[[Path], None]
    says: str
    file: str = "employees.csv"
    allow_symlinks: bool = False


ENTRY_CASES = [
    EntryCase("named pipe (FIFO) as the roster", _fifo, "is a named pipe (FIFO), not a regular file"),
    EntryCase("directory as the roster", _directory, "is a directory, not a regular file"),
    EntryCase("socket as the roster", _socket, "is a socket, not a regular file"),
    EntryCase("device as the roster (symlinks allowed)", _device, "is a device, not a regular file", allow_symlinks=True),
    EntryCase("symlink to a device", _device, "outside the landing directory: refused"),
    EntryCase("symlink to a file outside the landing", _outside_link, "outside the landing directory: refused"),
    EntryCase("broken symlink", _broken_link, "missing (a broken symbolic link?)"),
    EntryCase("named pipe as the manifest", _fifo, "is a named pipe (FIFO)", "_manifest.json"),
]


@pytest.mark.parametrize("case", ENTRY_CASES, ids=[c.kind for c in ENTRY_CASES])
def test_landing_entry_that_is_not_a_regular_file_is_refused(tmp_path, case):
    landing = tmp_path / "landing"
    folder = landing / "hr" / D.isoformat()
    folder.mkdir(parents=True)
    if case.file != "employees.csv":
        (folder / "employees.csv").write_bytes(EMP)
    case.make(folder / case.file)
    with pytest.raises(FeedError) as e:
        LandingSource(landing, allow_symlinks=case.allow_symlinks).files_for("hr", D)
    assert str(e.value) == f"hr feed, hr/{D}/{case.file}: " + str(e.value.first)
    assert case.says in str(e.value)


# ---------------------------------------------------------------- odd but valid: accepted, as documented

ACCEPTED = [
    ("byte-order mark", b"\xef\xbb\xbf" + EMP, 3),
    ("CRLF line endings", EMP.replace(b"\n", b"\r\n"), 3),
    ("no newline after the last row", EMP[:-1], 3),
    ("a CR as the file's last byte (the last row's line end, cut short)", EMP[:-1] + b"\r", 3),
    ("quoted field over several lines", field_replaced(2, "position", b'"Clerk\nsecond line"'), 3),
    ("tab inside a field", field_replaced(2, "position", b"Clerk\tjunior"), 3),
    ("a quote inside an unquoted field is kept verbatim", field_replaced(2, "position", b'6" ruler'), 3),
]


@pytest.mark.parametrize(("content", "rows"), [(c, r) for _, c, r in ACCEPTED], ids=[k for k, _, _ in ACCEPTED])
def test_odd_but_valid_delivery_is_accepted_with_every_row(con, tmp_path, content, rows):
    case = Case("ok", E, P, content, None, None, "")
    reader, out, _ = _stage(con, tmp_path, case)
    staged = reader.stage(out)
    assert (staged.rows, staged.rejected_rows, staged.data_lines) == (rows, 0, rows)
    assert con.execute(f"SELECT count(*) FROM '{out}'").fetchall() == [(rows,)]


def test_catalogue_size():
    """The issue asks for at least 55 kinds of malformed delivery."""
    assert len(CASES) + len(ENTRY_CASES) >= 55
    assert len({c.kind for c in CASES + ENTRY_CASES}) == len(CASES) + len(ENTRY_CASES)
