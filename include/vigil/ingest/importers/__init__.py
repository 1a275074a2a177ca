"""Importers: map an external export into one feed folder of the landing layout.

An importer reads a file it does not control (a regulator's export, another system's dump), checks
it, maps every row onto the feed contract (vigil.ingest.contract) and writes one delivery:

    <landing>/<feed>/<D>/<table>.csv ... + _manifest.json      (docs/feeds.md)

The delivery is then read by the nightly pipeline exactly like a bank's own, so nothing downstream
knows or cares where it came from. Importers stream (the csv module, one row at a time), write into
a hidden folder next to the target and rename it into place only when every row has passed, so a
failed import leaves the landing directory as it was.

    vigil import cfpb FILE --landing DIR [--as-of YYYY-MM-DD] [--force]      (docs/cfpb-import.md)
    vigil import mapped EXPORT_DIR --mapping FILE --landing DIR --date D     (docs/feeds.md, source mappings;
                                                                             vigil.ingest.mapping)
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vigil.ingest.contract import Table

MANIFEST = "_manifest.json"  # the name vigil.ingest.sources reads


class ImportSourceError(ValueError):
    """The file to import cannot be mapped: the message names the file and, when known, line and column."""

    def __init__(self, file: str | Path, message: str, *, line: int | None = None, column: str | None = None):
        self.file, self.line, self.column, self.reason = str(file), line, column, message
        where = [self.file]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


def csv_records(path: str | Path, reader, header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, fields) of each record after the header, blank lines
    skipped: a malformed record or one with another field count than the header is an
    ImportSourceError naming the file and line. `reader` is the csv.reader that just read `header`."""
    header_fields = len(header)
    end = reader.line_num
    while True:
        line = end + 1  # the header is line 1; a quoted line break makes a record span lines
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportSourceError(path, f"malformed CSV record ({exc})", line=line) from None
        except UnicodeDecodeError as exc:
            raise ImportSourceError(path, f"not UTF-8 ({exc.reason} at byte {exc.start} of the record)",
                                    line=line) from None
        end = reader.line_num
        if not any(field.strip() for field in record):
            continue  # a blank line is not a record
        if len(record) != header_fields:
            raise ImportSourceError(path, f"{len(record)} fields, the header has {header_fields}", line=line)
        yield line, record


class TargetExistsError(FileExistsError):
    """The target date folder already holds a delivery (use --force / overwrite=True to replace it)."""


@dataclass
class WrittenFile:
    name: str
    rows: int
    sha256: str


@dataclass
class ImportResult:
    feed: str
    date: dt.date
    folder: Path
    files: list[WrittenFile]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # e.g. {"category": {"fees": 12}}
    warnings: list[str] = field(default_factory=list)


class ContractCsvWriter:
    """Writes one contract table as the feed format wants it: contract column order, UTF-8 without
    a BOM, comma, RFC 4180 quoting, LF line endings, null as an empty field. Counts rows and hashes
    the bytes as they are written, for the manifest."""

    _FLUSH_AT = 1 << 20

    def __init__(self, path: Path, table: Table):
        self.path, self.table, self.rows = path, table, 0
        self._columns = table.column_names
        self._file = open(path, "wb")
        self._sha = hashlib.sha256()
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="\n")
        self._csv.writerow(self._columns)

    def write(self, row: dict[str, str | None]) -> None:
        unknown = set(row) - set(self._columns)
        if unknown:  # a programming error in the mapping, not bad input
            raise KeyError(f"{self.table.feed}/{self.table.name} has no column(s) {sorted(unknown)}")
        self._csv.writerow(["" if row.get(c) is None else row[c] for c in self._columns])
        self.rows += 1
        if self._buf.tell() >= self._FLUSH_AT:
            self._flush()

    def write_lines(self, lines: list[str]) -> None:
        """Rows already rendered as CSV lines ("a,b,c\n"), for a generator's hot loop (vigil_demo):
        the caller vouches for their quoting and column order."""
        self._buf.write("".join(lines))
        self.rows += len(lines)
        if self._buf.tell() >= self._FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        data = self._buf.getvalue().encode("utf-8")
        self._sha.update(data)
        self._file.write(data)
        self._buf.seek(0)
        self._buf.truncate()

    def close(self) -> WrittenFile:
        if not self._file.closed:
            self._flush()
            self._file.close()
        return WrittenFile(self.path.name, self.rows, self._sha.hexdigest())


def write_manifest(folder: Path, feed: str, date: dt.date, files: Iterable[WrittenFile]) -> None:
    data = {
        "feed": feed,
        "date": date.isoformat(),
        "files": {f.name: {"rows": f.rows, "sha256": f.sha256} for f in sorted(files, key=lambda f: f.name)},
    }
    (folder / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def staging_folder(landing: Path, feed: str) -> Path:
    """A fresh hidden folder under <landing>/<feed>/ (the same file system as the target, so the
    final rename is atomic). The landing reader only looks at YYYY-MM-DD folders."""
    parent = Path(landing) / feed
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".import-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def check_target(landing: Path, feed: str, date: dt.date, overwrite: bool) -> Path:
    target = Path(landing) / feed / date.isoformat()
    if target.exists() and any(target.iterdir()) and not overwrite:
        hint = (" (the complaints feed is incremental: a later export goes into a later date folder)"
                if feed == "complaints" else "")
        raise TargetExistsError(f"{target} already holds a delivery; pass --force to replace it{hint}")
    return target


def publish(tmp: Path, target: Path) -> None:
    """Move the finished delivery into place (replacing an old one only when the caller allowed it)."""
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
