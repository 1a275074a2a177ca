"""Read one feed file, check it against the contract, and stage it typed and pseudonymised.

Everything here is set-based DuckDB SQL on a streaming reader: no Python loop touches feed rows and
no feed is held whole in pandas. The steps, cheapest first, so a broken file fails fast:

1. the file itself: a regular file (never a pipe, device or directory), not zero bytes, header
   decodes, line endings are not bare CRs, delimiter is a comma, columns match;
2. bytes: one pass hashes the file and counts its lines, stopping at the first control character
   (NUL padding) or line over 4 MiB, each named by line (and column);
3. structure: DuckDB's strict CSV reader loads every field as text and reports malformed records
   (bad UTF-8, too many or too few fields, stray quotes) with their physical line; then row
   conservation: the records read must be the data lines the bytes hold (a skipped blank line or a
   record the parser lost fails the file);
4. values: one pass computes, per column and rule, how many rows break it and the first one
   (required, type, accepted values, range);
   A few bad rows do not stop the night: while the rows breaking a value rule are at most the
   quarantine share of the file (default 1%), they are set aside with their line, column and rule
   (never their values) and the rest goes on; above it the file fails. HR key defects (a missing
   employee_id, an employee both active and terminated) always fail: guessing there locks people out;
5. keys: duplicates of the contract key (always fail: which of two rows is right cannot be known);
6. output: typed columns, PII replaced by keyed tokens, the source line of every row, written to
   Parquet for the load step.

Errors name feed, file, line and column. Values of PII columns are never echoed in messages.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from vigil.ingest.contract import HIRE_DATE_MAX_DAYS_AHEAD, Column, Table
from vigil.ingest.pseudonymise import duckdb_token_sql

log = logging.getLogger(__name__)

MAX_PROBLEMS_SHOWN = 5
_HEADER_PROBE_BYTES = 1 << 20
#: The longest physical line the contract accepts (the same limit DuckDB's reader is given).
MAX_LINE_BYTES = 4 << 20
_SCAN_CHUNK = 1 << 20
# Control characters other than tab, LF and CR (and DEL): never valid in a feed. `translate` with
# this deletion table leaves only those bytes, so a chunk is checked at C speed.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13)) + b"\x7f"
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)
_LF_RUN, _CRLF_RUN = b"\n" * 256, b"\r\n" * 256
_LONE_CR = re.compile(rb"\r(?!\n)")
_BLANK_LINE = re.compile(rb"\n(\r?\n)")  # group 1: the empty line (the header is never empty)

# Contract formats, as RE2 patterns DuckDB evaluates. try_cast then rejects impossible values (2026-02-30).
_PATTERNS = {
    "date": r"\d{4}-\d{2}-\d{2}",
    # ISO 8601 with an explicit offset or Z; a space instead of T is tolerated (Parquet casts print so).
    "timestamp": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)",
    "boolean": r"true|false",
    "integer": r"[+-]?\d{1,9}",
    "decimal": r"[+-]?\d{1,16}(\.\d{1,2})?",
}
_FORMAT_HELP = {
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "an ISO 8601 timestamp with an offset or Z (e.g. 2026-03-01T08:15:00Z)",
    "boolean": "true or false",
    "integer": "a whole number",
    "decimal": "a decimal number with at most 2 decimals",
}
_CASTS = {"date": "DATE", "timestamp": "TIMESTAMPTZ", "boolean": "BOOLEAN", "integer": "INTEGER", "decimal": "DECIMAL(18,2)"}


@dataclass(frozen=True)
class Problem:
    line: int | None
    column: str | None
    message: str
    count: int = 1

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        more = f" ({self.count - 1} more rows like it)" if self.count > 1 else ""
        return f"{', '.join(where)}: {self.message}{more}" if where else f"{self.message}{more}"


class FeedError(Exception):
    """A feed file that breaks the contract. Nothing is loaded when one is raised."""

    def __init__(self, feed: str, file: str, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, problems)]
        self.feed, self.file, self.problems = feed, file, problems
        shown = "\n  ".join(str(p) for p in problems[:MAX_PROBLEMS_SHOWN])
        extra = f"\n  … and {len(problems) - MAX_PROBLEMS_SHOWN} more problems" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        if len(problems) == 1:
            super().__init__(f"{feed} feed, {file}: {problems[0]}")
        else:
            super().__init__(f"{feed} feed, {file}: {len(problems)} problems\n  {shown}{extra}")

    @property
    def first(self) -> Problem:
        return self.problems[0]


@dataclass
class StagedTable:
    """What the load step needs to know about one validated, pseudonymised table."""

    feed: str
    table: str
    source_file: str  # as shown to people (relative to the landing root when possible)
    sha256: str
    rows: int
    staged_path: str  # Parquet with warehouse column names + _source_line
    warnings: list[str] = field(default_factory=list)
    rejected_rows: int = 0  # rows set aside (quarantined); listed in rejected_path
    rejected_path: str | None = None  # Parquet: _source_line, column_name, rule (no values)
    # Records in the file (CSV: physical lines - header - line breaks inside quoted fields; Parquet:
    # its rows). Row conservation: rows + rejected_rows == data_lines, or the file fails.
    data_lines: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> StagedTable:
        return cls(**d)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_kind(path: Path) -> str | None:
    """None for a regular file (after following symlinks), else what it is, in words.

    Only regular files are read: opening a named pipe blocks until a writer comes (a night that
    hangs forever), a device or socket is never a delivery, a directory is not a file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing (a broken symbolic link?)" if os.path.islink(path) else "missing"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


@dataclass
class FileScan:
    """One pass over a CSV file's bytes: its hash, its physical lines and where its layout breaks."""

    sha256: str
    newlines: int  # LF bytes in the file
    ends_with_newline: bool

    @property
    def physical_lines(self) -> int:
        return self.newlines + (0 if self.ends_with_newline else 1)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class TableReader:
    """Validates and stages one file of one contract table, on a DuckDB connection it is given.

    The connection must have `_vigil_hmac_key` installed (see pseudonymise.install_duckdb_key) when
    the table has PII columns.
    """

    def __init__(self, con, table: Table, path: Path, display_name: str, *,
                 quarantine_share: float = 0.0, feed_date=None):
        self.con, self.table, self.path, self.display = con, table, Path(path), display_name
        self.quarantine_share, self.feed_date = quarantine_share, feed_date
        self.warnings: list[str] = []
        self._rejected: list[tuple[int, str, str]] = []  # (line, column, rule) of quarantined rows
        self._line_column = False  # True once source lines are materialised (rows were removed)
        self._in = f"_in_{table.feed}__{table.name}"
        self._multiline = False
        self._header: list[str] = []

    # ------------------------------------------------------------------ public

    def stage(self, out_path: Path) -> StagedTable:
        """Validate the file and write the staged Parquet; raises FeedError on any contract breach."""
        kind = file_kind(self.path)
        if kind is not None:
            self._fail([Problem(None, None, f"is {kind}, not a regular file; only regular files are read")])
        scan = None
        if self.path.suffix == ".parquet":
            sha = sha256_file(self.path)
            self._load_parquet()
        else:
            self._check_file_and_header()
            scan = self._scan()  # before DuckDB reads it: stops at the first control byte or overlong line
            sha = scan.sha256
            self._load_csv(scan)
        try:
            rows = self.con.execute(f"SELECT count(*) FROM {self._in}").fetchall()[0][0]
            self._multiline = rows > 0 and self._has_multiline_fields()
            data_lines = self._data_lines(scan, rows)
            if rows == 0 and not self.table.allows_header_only:
                self._fail(
                    [Problem(None, None, "header-only file: a snapshot of a required table can never be empty. "
                             "An empty roster is a source error, not a night where everyone left.")]
                )
            self._check_values()
            self._check_keys()
            # Row conservation, on every table: the rows staged plus the rows set aside are the file's
            # data lines, checked on what is about to be written, before anything is.
            kept = self.con.execute(f"SELECT count(*) FROM {self._in}").fetchall()[0][0]
            n_rejected = len({line for line, _, _ in self._rejected})
            if kept + n_rejected != data_lines:
                self._fail([Problem(None, None, f"{kept} rows read and {n_rejected} rejected, but the file has "
                                                f"{data_lines} data lines: a row would have been lost")])
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_suffix(".parquet.tmp")
            self.con.execute(
                f"COPY ({self._output_select()}) TO {_lit(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
            )
            tmp.replace(out_path)
            rejected_path = self._write_rejected(out_path) if self._rejected else None
        finally:
            self.con.execute(f"DROP TABLE IF EXISTS {self._in}")
        return StagedTable(self.table.feed, self.table.name, self.display, sha, kept, str(out_path),
                           self.warnings, n_rejected, rejected_path, data_lines)

    # ------------------------------------------------------------------ steps

    def _fail(self, problems: list[Problem]):
        raise FeedError(self.table.feed, self.display, problems)

    def _check_file_and_header(self) -> None:
        if not self.path.exists():
            self._fail([Problem(None, None, "file not found")])
        if self.path.stat().st_size == 0:
            self._fail([Problem(None, None, "empty file (0 bytes): not even a header. The extract failed upstream.")])
        with open(self.path, "rb") as fh:
            probe = fh.read(_HEADER_PROBE_BYTES)
        first_line = probe.split(b"\n", 1)[0].rstrip(b"\r")
        if b"\r" in first_line:
            self._fail([Problem(1, None, "lines end with a bare CR (classic Mac line endings); "
                                         "the contract requires LF or CRLF")])
        if first_line.startswith(b"\xef\xbb\xbf"):
            first_line = first_line[3:]
        try:
            header_text = first_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._fail([Problem(1, None, f"header is not UTF-8 (byte 0x{first_line[exc.start]:02x} at position {exc.start + 1})")])
        header = next(csv.reader(io.StringIO(header_text)), [])
        if len(header) == 1 and len(self.table.columns) > 1:
            for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
                if delimiter in header[0]:
                    self._fail([Problem(1, None, f"fields are separated by {label}; the contract requires commas")])
        self._check_columns(header)

    def _check_columns(self, header: list[str]) -> None:
        problems: list[Problem] = []
        seen: set[str] = set()
        for name in header:
            if name in seen:
                problems.append(Problem(1, name, "column appears twice in the header"))
            seen.add(name)
        expected = self.table.column_names
        unknown = [h for h in header if h not in expected]
        for name in expected:
            if name not in seen:
                guess = difflib.get_close_matches(name, unknown, n=1, cutoff=0.6)
                hint = f" (found {guess[0]!r}: renamed?)" if guess else ""
                problems.append(Problem(1, name, f"required column is missing{hint}"))
        if problems:
            self._fail(problems)
        for name in unknown:
            self.warnings.append(f"{self.display}: unknown column {name!r} ignored")
            log.warning("%s feed, %s: unknown column %r ignored", self.table.feed, self.display, name)
        self._header = header

    def _scan(self) -> FileScan:
        """Hash the file and count its physical lines in one pass over its bytes, stopping at the first
        control character (NUL padding, a sparse tail) or the first line over MAX_LINE_BYTES."""
        h = hashlib.sha256()
        newlines = offset = line_start = 0
        last = b""
        with open(self.path, "rb") as fh:
            while chunk := fh.read(_SCAN_CHUNK):
                bad = chunk.translate(None, _NOT_CONTROL)
                if bad:
                    pos = min(chunk.find(bytes([b])) for b in set(bad))
                    nl = chunk.rfind(b"\n", 0, pos)
                    start = offset + nl + 1 if nl >= 0 else line_start
                    self._fail_control(newlines + chunk.count(b"\n", 0, pos) + 1, start, offset + pos, chunk[pos])
                first_nl = chunk.find(b"\n")
                end = offset + (first_nl if first_nl >= 0 else len(chunk))
                if end - line_start > MAX_LINE_BYTES:
                    self._fail([Problem(newlines + 1, None, f"line longer than {MAX_LINE_BYTES >> 20} MiB, the "
                                        "contract's maximum (a runaway field or a corrupted file?)")])
                if first_nl >= 0:
                    line_start = offset + chunk.rfind(b"\n") + 1
                    padding = chunk.find(_LF_RUN)
                    if padding < 0:
                        padding = chunk.find(_CRLF_RUN)
                    if padding >= 0:  # a tail of line breaks: stop here rather than read gigabytes of nothing
                        self._fail([Problem(newlines + chunk.count(b"\n", 0, padding) + 2, None,
                                            f"{len(_LF_RUN)} empty lines in a row: the file is padded")])
                h.update(chunk)
                newlines += chunk.count(b"\n")
                offset += len(chunk)
                last = chunk[-1:]
        return FileScan(h.hexdigest(), newlines, last == b"\n")

    def _first_line_matching(self, pattern: re.Pattern) -> int | None:
        """Physical line of the first match of `pattern` (a diagnosis, run only once a file has failed)."""
        newlines, tail = 0, b""  # tail: the previous chunk's last 2 bytes, for matches across chunks
        with open(self.path, "rb") as fh:
            while chunk := fh.read(_SCAN_CHUNK):
                data = tail + chunk
                m = pattern.search(data)
                if m and m.end() < len(data):  # a match at the very end may change with the next chunk
                    return newlines - tail.count(b"\n") + data.count(b"\n", 0, m.start(m.lastindex or 0)) + 1
                newlines += chunk.count(b"\n")
                tail = data[-2:]
        m = pattern.search(tail)  # at the end of the file nothing more can follow
        return newlines - tail.count(b"\n") + tail.count(b"\n", 0, m.start(m.lastindex or 0)) + 1 if m else None

    def _fail_at_bad_line_ending(self) -> None:
        """A line DuckDB skipped or choked on: an empty line or a bare CR, named by its line, if there is one."""
        blank = self._first_line_matching(_BLANK_LINE)
        lone_cr = self._first_line_matching(_LONE_CR)
        problems = []
        if blank is not None:
            problems.append(Problem(blank, None, "empty line: the contract has no blank lines "
                                                 "(a padded or concatenated extract?)"))
        if lone_cr is not None:
            problems.append(Problem(lone_cr, None, "a bare CR ends a line; the contract requires LF or CRLF"))
        if problems:
            self._fail(sorted(problems, key=lambda p: p.line)[:1])

    def _fail_control(self, line: int, line_start: int, at: int, byte: int) -> None:
        """A control byte: name its line and, from the fields before it on that line, its column."""
        with open(self.path, "rb") as fh:
            fh.seek(line_start)
            before = fh.read(min(at - line_start, MAX_LINE_BYTES)).decode("utf-8", "replace")
        try:
            fields = next(csv.reader([before]), [])
        except csv.Error:
            fields = []
        index = max(len(fields) - 1, 0)
        column = self._header[index] if index < len(self._header) else None
        what = "NUL byte (0x00)" if byte == 0 else f"control character 0x{byte:02x}"
        self._fail([Problem(line, column, f"{what}: control characters are not allowed (only tab, CR and LF; "
                                          "a padded or corrupted file?)")])

    def _data_lines(self, scan: FileScan | None, rows: int) -> int:
        """The records the file holds, counted from its bytes, not from what DuckDB returned: physical
        lines minus the header minus line breaks inside quoted fields. A line the CSV reader skipped
        (an empty line) or lost shows here as a difference, named by its line when it can be."""
        if scan is None:
            return rows  # Parquet: the rows are the records
        embedded = 0
        if self._multiline:
            nl = " + ".join(f"coalesce(length({_q(c)}) - length(replace({_q(c)}, chr(10), '')), 0)" for c in self._header)
            embedded = int(self.con.execute(f"SELECT coalesce(sum({nl}), 0) FROM {self._in}").fetchall()[0][0])
        data_lines = scan.physical_lines - 1 - embedded
        if data_lines != rows:
            self.con.execute(f"DROP TABLE IF EXISTS {self._in}")
            self._fail_at_bad_line_ending()
            self._fail([Problem(None, None, f"the file has {data_lines} data lines but {rows} records could be read: "
                                            "a row would have been lost")])
        return data_lines

    def _load_csv(self, scan: FileScan) -> None:
        columns = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in self._header) + "}"
        rejects = f"_rej_{self.table.feed}__{self.table.name}"
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}")
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}_scans")
        # auto_detect off and strict on: the contract fixes the dialect, so nothing is guessed and
        # every malformed record is reported rather than silently repaired.
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {self._in} AS SELECT * FROM read_csv({_lit(str(self.path))}, "
                f"auto_detect=false, header=true, columns={columns}, delim=',', quote='\"', escape='\"', "
                f"strict_mode=true, store_rejects=true, rejects_table={_lit(rejects)}, "
                f"rejects_scan={_lit(rejects + '_scans')}, max_line_size={MAX_LINE_BYTES})"
            )
        except Exception as exc:  # DuckDB gives up on the whole file (e.g. a bare CR): say where, if known
            if "Interrupt" in type(exc).__name__:
                raise
            log.debug("read_csv failed on %s", self.display, exc_info=True)
            self._fail_at_bad_line_ending()
            self._fail([Problem(None, None, f"not readable as CSV ({type(exc).__name__}): malformed quoting or line endings")])
        rows = self.con.execute(
            f"SELECT line, column_name, error_type, error_message FROM {rejects} ORDER BY line, column_idx"
        ).fetchall()
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}")
        self.con.execute(f"DROP TABLE IF EXISTS {rejects}_scans")
        if rows:
            self.con.execute(f"DROP TABLE IF EXISTS {self._in}")
            problems = []
            for line, column, error_type, message in rows:
                problems.append(Problem(int(line), column, self._describe_reject(error_type, message, column)))
            self._fail(self._merge(problems))

    def _describe_reject(self, error_type: str, message: str, column: str | None) -> str:
        if error_type == "INVALID ENCODING":
            return "not UTF-8 (the contract requires UTF-8; re-export the file as UTF-8)"
        if error_type == "TOO MANY COLUMNS":
            return "more fields than the header (an unquoted comma?)"
        if error_type == "MISSING COLUMNS":
            return "fewer fields than the header (a truncated line or wrong delimiter?)"
        if error_type == "LINE SIZE OVER MAXIMUM":
            return f"record longer than {MAX_LINE_BYTES >> 20} MiB, the contract's maximum"
        if error_type in ("UNQUOTED VALUE", "UNTERMINATED QUOTE"):
            return "malformed quoting (quotes inside a field must be doubled, RFC 4180)"
        # DuckDB's own message may quote the record; only its kind is shown, so no PII can leak.
        return f"malformed record ({error_type.lower()})"

    def _load_parquet(self) -> None:
        try:
            schema = self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit(str(self.path))})").fetchall()
        except Exception as exc:
            self._fail([Problem(None, None, f"not a readable Parquet file ({type(exc).__name__})")])
        header = [r[0] for r in schema]
        self._check_columns(header)
        types = {r[0]: r[1] for r in schema}
        for name in self.table.column_names:
            if types[name] == "TIMESTAMP" and self.table.column(name).type == "timestamp":
                self._fail([Problem(None, name, "timestamp without time zone; the contract requires UTC or an offset")])
        # Everything goes through the same text checks as CSV, so both formats obey one contract.
        select = ", ".join(
            f"CAST({_q(h)} AS VARCHAR) AS {_q(h)}" if types[h] != "BOOLEAN" else
            f"CASE WHEN {_q(h)} THEN 'true' WHEN NOT {_q(h)} THEN 'false' END AS {_q(h)}"
            for h in header
        )
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self._in} AS SELECT {select} FROM read_parquet({_lit(str(self.path))})"
        )

    def _has_multiline_fields(self) -> bool:
        if self.path.suffix == ".parquet":
            return False
        cond = " OR ".join(f"contains({_q(c)}, chr(10))" for c in self._header)
        return bool(self.con.execute(f"SELECT count(*) FROM {self._in} WHERE {cond}").fetchall()[0][0])

    def _line_sql(self) -> str:
        """Physical line of each record: CSV has a header line, and quoted fields may span lines."""
        if self._line_column:
            return "src._vigil_line"
        if self.path.suffix == ".parquet":
            return "src.rowid + 1"
        if not self._multiline:
            return "src.rowid + 2"
        nl = " + ".join(f"coalesce(length({_q(c)}) - length(replace({_q(c)}, chr(10), '')), 0)" for c in self._header)
        return f"src.rowid + 2 + coalesce(sum({nl}) OVER (ORDER BY src.rowid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)"

    def _lines_of(self, rowids: list[int]) -> dict[int, int]:
        if not rowids:
            return {}
        ids = ", ".join(str(int(r)) for r in rowids)
        rows = self.con.execute(
            f"SELECT rid, line FROM (SELECT src.rowid AS rid, {self._line_sql()} AS line FROM {self._in} AS src) "
            f"WHERE rid IN ({ids})"
        ).fetchall()
        return {int(r): int(line) for r, line in rows}

    def _rules(self, col: Column) -> list[tuple[str, str]]:
        """(SQL condition that is TRUE for a bad value, what was expected) for one column."""
        v = _q(col.name)
        rules = []
        if col.required:
            rules.append((f"{v} IS NULL", "a value is required"))
        if self._is_code(col):
            # '000101 ' and '000101' would be two people: identifiers and codes must be exact.
            rules.append((f"regexp_matches({v}, '^\\s|\\s$')",
                          "leading or trailing whitespace in an identifier or code (it must be exact)"))
        if col.type in _PATTERNS and not col.pii:
            rules.append(
                (
                    f"{v} IS NOT NULL AND (NOT regexp_full_match({v}, {_lit(_PATTERNS[col.type])}) "
                    f"OR try_cast({v} AS {_CASTS[col.type]}) IS NULL)",
                    f"expected {_FORMAT_HELP[col.type]}",
                )
            )
        if col.values:
            allowed = ", ".join(_lit(x) for x in col.values)
            rules.append((f"{v} IS NOT NULL AND trim({v}) NOT IN ({allowed})", f"expected one of: {', '.join(col.values)}"))
        if col.type == "timestamp" and self.feed_date is not None:
            # An extract of day D cannot hold a later event. The date is the timestamp's own (local)
            # date, so an evening event in UTC+14 on day D is still day D.
            rules.append((f"try_cast(left({v}, 10) AS DATE) > DATE '{self.feed_date}'",
                          f"a timestamp after the feed date {self.feed_date}: an extract of that day cannot hold "
                          "a later event"))
        if col.min_value is not None or col.max_value is not None:
            rules.append(
                (
                    f"try_cast({v} AS BIGINT) NOT BETWEEN {col.min_value} AND {col.max_value}",
                    f"expected a value from {col.min_value} to {col.max_value}",
                )
            )
        return rules

    def _is_code(self, col: Column) -> bool:
        """Keys, references to keys (…_id) and enumerations: values that identify, never free text."""
        return col.type == "text" and not col.pii and (
            col.name in self.table.key or col.name.endswith("_id") or col.values is not None)

    def _consistency_rules(self) -> list[tuple[str, str, str]]:
        """(column, SQL condition TRUE for a bad row, what was expected) across columns of a row."""
        if (self.table.feed, self.table.name) != ("hr", "employees"):
            return []
        terminated = "try_cast(termination_date AS DATE)"
        hired, notice = "try_cast(hire_date AS DATE)", "try_cast(notice_date AS DATE)"
        rules = [("status", f"status = 'terminated' AND {terminated} IS NULL",
                  "an employee with status terminated needs a termination_date")]
        if self.feed_date is not None:
            rules.append(("status", f"status IN ('active', 'notice', 'leave') AND {terminated} <= DATE '{self.feed_date}'",
                          "employee is both active (status) and terminated (termination_date on or before the feed date)"))
            # The other way round: a future leaver is on notice until the day, not terminated already.
            rules.append(("status", f"status = 'terminated' AND {terminated} > DATE '{self.feed_date}'",
                          "employee is terminated (status) with a termination_date after the feed date: a future "
                          "leaver has status notice until that day"))
            # The raw gate's critical date_sanity expectations, checked here so that such a file is
            # refused with its line before anything is loaded (they would fail the night after it).
            rules.append(("hire_date", f"{hired} > DATE '{self.feed_date}' + {HIRE_DATE_MAX_DAYS_AHEAD}",
                          f"hire date more than {HIRE_DATE_MAX_DAYS_AHEAD} days after the feed date"))
        rules.append(("termination_date", f"{terminated} < {hired}", "termination_date before hire_date"))
        rules.append(("termination_date", f"{terminated} < {notice}", "termination_date before notice_date"))
        return rules

    def _always_fails(self, col: Column) -> bool:
        """HR key defects are never quarantined: a guessed roster must not drive revocations."""
        return self.table.feed == "hr" and col.name in self.table.key

    def _check_values(self) -> None:
        checks = [(col.name, cond, expected, self._always_fails(col), col.pii)
                  for col in self.table.columns for cond, expected in self._rules(col)]
        checks += [(column, cond, expected, True, False) for column, cond, expected in self._consistency_rules()]
        if not checks:
            return
        aggs = ", ".join(f"count(*) FILTER (WHERE {cond}), min(rowid) FILTER (WHERE {cond})" for _, cond, *_ in checks)
        bad_row = " OR ".join(f"coalesce(({cond}), false)" for _, cond, *_ in checks)
        result = self.con.execute(
            f"SELECT {aggs}, count(*) FILTER (WHERE {bad_row}), count(*) FROM {self._in}").fetchall()[0]
        failing = [(checks[i], result[2 * i], result[2 * i + 1]) for i in range(len(checks)) if result[2 * i]]
        if not failing:
            return
        bad_rows, total = result[-2], result[-1]
        lines = self._lines_of([rid for _, _, rid in failing])
        problems = []
        for (column, _, expected, _, pii), count, rid in failing:
            if pii:
                shown = "value withheld (PII column)"
            else:
                value = self.con.execute(f"SELECT {_q(column)} FROM {self._in} WHERE rowid = {int(rid)}").fetchall()[0][0]
                shown = "empty" if value is None else f"{value[:60]!r}"
            problems.append(Problem(lines.get(int(rid)), column, f"{shown}: {expected}", count))
        problems.sort(key=lambda p: (p.line or 0))
        if any(always for (_, _, _, always, _), _, _ in failing):
            self._fail(problems)
        if bad_rows > self.quarantine_share * total:
            problems.append(Problem(None, None, (
                f"{bad_rows} of {total} rows ({bad_rows / total:.2%}) break the contract: more than the "
                f"{self.quarantine_share:.2%} that may be quarantined (VIGIL_QUARANTINE_MAX_SHARE)")))
            self._fail(problems)
        self._quarantine([(column, cond, expected) for (column, cond, expected, _, _), _, _ in failing], bad_row)
        self.warnings.append(
            f"{self.display}: {bad_rows} of {total} rows quarantined ({bad_rows / total:.2%}, limit "
            f"{self.quarantine_share:.2%}) into raw._vigil_rejected_rows: " + "; ".join(str(p) for p in problems[:3]))
        log.warning("%s feed, %s: quarantined %d rows: %s", self.table.feed, self.display, bad_rows,
                    "; ".join(str(p) for p in problems[:3]))

    def _quarantine(self, failing: list[tuple[str, str, str]], bad_row: str) -> None:
        """Set the bad rows aside (line, column, rule) and remove them from what is staged."""
        # Lines are fixed first: removing rows must not shift the physical line of the rest.
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self._in} AS SELECT src.*, {self._line_sql()} AS _vigil_line "
            f"FROM {self._in} AS src ORDER BY src.rowid")
        self._line_column = True
        for column, cond, expected in failing:
            self._rejected += [
                (int(line), column, expected)
                for (line,) in self.con.execute(
                    f"SELECT _vigil_line FROM {self._in} WHERE coalesce(({cond}), false) ORDER BY _vigil_line").fetchall()
            ]
        self.con.execute(f"DELETE FROM {self._in} WHERE {bad_row}")

    def _write_rejected(self, out_path: Path) -> str:
        path = out_path.with_name(out_path.name.replace(".parquet", ".rejected.parquet"))
        self.con.execute("CREATE OR REPLACE TEMP TABLE _vigil_rejected (_source_line BIGINT, column_name VARCHAR, rule VARCHAR)")
        self.con.executemany("INSERT INTO _vigil_rejected VALUES (?, ?, ?)", sorted(self._rejected))
        self.con.execute(f"COPY (SELECT * FROM _vigil_rejected ORDER BY ALL) TO {_lit(str(path))} (FORMAT parquet)")
        self.con.execute("DROP TABLE _vigil_rejected")
        return str(path)

    def _check_keys(self) -> None:
        key = ", ".join(_q(k) for k in self.table.key)
        dups = self.con.execute(
            f"SELECT {key}, count(*), list(rowid ORDER BY rowid)[1:3] FROM {self._in} "
            f"GROUP BY ALL HAVING count(*) > 1 ORDER BY min(rowid) LIMIT {MAX_PROBLEMS_SHOWN + 1}"
        ).fetchall()
        if not dups:
            return
        total = self.con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {self._in} GROUP BY {key} HAVING count(*) > 1)"
        ).fetchall()[0][0]
        lines = self._lines_of([rid for d in dups for rid in d[-1]])
        problems = []
        for d in dups:
            values = dict(zip(self.table.key, d[: len(self.table.key)]))
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items())
            at = ", ".join(str(lines[int(r)]) for r in d[-1])
            problems.append(Problem(lines[int(d[-1][1])], ",".join(self.table.key), f"duplicate key {shown} (lines {at})", 1))
        if total > len(problems):
            problems.append(Problem(None, None, f"{total} duplicated keys in all"))
        self._fail(problems)

    def _output_select(self) -> str:
        cols = []
        uses_key = False
        for col in self.table.columns:
            v = _q(col.name)
            if col.pii:
                cols.append(f"{duckdb_token_sql(v)} AS {_q(col.warehouse_name)}")
                uses_key = True
            elif col.type == "text":
                cols.append(v)
            else:
                cols.append(f"CAST({v} AS {_CASTS[col.type]}) AS {v}")
        cols.append(f"CAST({self._line_sql()} AS BIGINT) AS _source_line")
        source = f"{self._in} AS src, _vigil_hmac_key AS k" if uses_key else f"{self._in} AS src"
        return f"SELECT {', '.join(cols)} FROM {source} ORDER BY src.rowid"

    @staticmethod
    def _merge(problems: list[Problem]) -> list[Problem]:
        """Collapse many rejects of one kind into one problem with a count, keeping the first line."""
        merged: dict[tuple, Problem] = {}
        for p in problems:
            k = (p.column, p.message)
            if k in merged:
                first = merged[k]
                merged[k] = Problem(first.line, first.column, first.message, first.count + 1)
            else:
                merged[k] = p
        return sorted(merged.values(), key=lambda p: p.line or 0)
