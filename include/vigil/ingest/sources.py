"""Where feed files come from: a landing directory, or a SQL database queried per table.

A source turns (feed, date) into a list of local files to read. The landing source points at the
delivered files; the SQL source streams each query's rows into a CSV in the run's work folder, so
both go through exactly the same reader and the same checks. New kinds of source (an object store)
implement `files_for()` too.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

from vigil.ingest.contract import OPTIONAL_FEEDS, TABLES_BY_FEED, Table
from vigil.ingest.reader import FeedError, Problem, file_kind

log = logging.getLogger(__name__)

MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class FeedFile:
    table: Table
    path: Path
    display: str  # how people see it in messages, e.g. "hr/2026-03-01/employees.csv"
    expected_rows: int | None = None  # from _manifest.json, when delivered
    expected_sha256: str | None = None
    # Staleness evidence from _manifest.json (vigil.gates.breakers reads them from raw._vigil_loads): when
    # the sender extracted the file, how far its source had got (a change number, a high-water
    # timestamp...), and the day the file itself says it describes.
    extracted_at: str | None = None
    source_watermark: str | None = None
    as_of: str | None = None


class LandingSource:
    """`<root>/<feed>/<YYYY-MM-DD>/<table>.csv|.parquet`, with an optional `_manifest.json`."""

    def __init__(self, root: str | Path, *, allow_symlinks: bool = False):
        parsed = urlparse(str(root))
        if parsed.scheme not in ("", "file"):
            # Object stores plug in here; until then, sync or mount the bucket to a path.
            raise ValueError(f"landing {root!r}: only local paths are supported (got scheme {parsed.scheme!r})")
        self.root = Path(parsed.path if parsed.scheme == "file" else str(root))
        self.allow_symlinks = allow_symlinks

    def folder(self, feed: str, date: dt.date) -> Path:
        return self.root / feed / date.isoformat()

    def _check_inside(self, feed: str, path: Path, display: str) -> None:
        """Refuse a file or folder that a symbolic link takes outside the landing directory (unless
        VIGIL_LANDING_ALLOW_SYMLINKS): what is loaded must be what was delivered to the landing zone."""
        if self.allow_symlinks:
            return
        target = path.resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise FeedError(feed, display, f"is a symbolic link to {target}, outside the landing directory: refused "
                                           "(set VIGIL_LANDING_ALLOW_SYMLINKS=true to allow it)")

    def _check_regular(self, feed: str, path: Path, display: str) -> None:
        self._check_inside(feed, path, display)
        kind = file_kind(path)
        if kind is not None:
            raise FeedError(feed, display, f"is {kind}, not a regular file; only regular files are read")

    def files_for(self, feed: str, date: dt.date, work_dir: Path | None = None) -> tuple[list[FeedFile], list[str]]:
        folder = self.folder(feed, date)
        rel = f"{feed}/{date.isoformat()}"
        if folder.exists() and not folder.is_dir():
            raise FeedError(feed, rel + "/", f"no delivery: {folder} is {file_kind(folder)}, not a folder")
        if not folder.is_dir():
            if feed in OPTIONAL_FEEDS:
                return [], []  # a bank that does not send this feed: nothing to load tonight
            raise FeedError(feed, rel + "/", f"no delivery: folder {folder} does not exist")
        self._check_inside(feed, folder, rel + "/")
        files, warnings = [], []
        known = set()
        for table in TABLES_BY_FEED[feed]:
            candidates = [folder / f"{table.file_stem}{ext}" for ext in (".csv", ".parquet")]
            present = [p for p in candidates if p.exists() or p.is_symlink()]
            known.update(p.name for p in candidates)
            if len(present) > 1:
                raise FeedError(feed, f"{rel}/{table.file_stem}.*", "both .csv and .parquet delivered; send one")
            if not present:
                if table.required:
                    raise FeedError(feed, f"{rel}/{table.file_stem}.csv", "required file is missing")
                continue
            self._check_regular(feed, present[0], f"{rel}/{present[0].name}")
            files.append(FeedFile(table, present[0], f"{rel}/{present[0].name}"))
        for extra in sorted(p.name for p in folder.iterdir()):
            if extra not in known and extra != MANIFEST and not extra.startswith("."):
                warnings.append(f"{rel}/{extra}: not part of the contract, ignored")
        manifest = folder / MANIFEST
        if manifest.exists() or manifest.is_symlink():
            self._check_regular(feed, manifest, f"{rel}/{MANIFEST}")
            files = read_manifest(feed, date, manifest, files, rel)
        return files, warnings


def read_manifest(feed: str, date: dt.date, manifest: Path, files: list[FeedFile], rel: str) -> list[FeedFile]:
    """The sender's own account of what it sent: returns the files carrying what it promised.

    Feed, date and the file list are checked here; rows and sha256 are checked after reading
    (`verify_against_manifest`), against the reader's own count and hash, so nothing is read twice.
    """
    display = f"{rel}/{MANIFEST}"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(feed, display, f"not valid JSON ({exc})") from None
    problems = []
    if data.get("feed") not in (None, feed):
        problems.append(Problem(None, "feed", f"manifest says feed {data.get('feed')!r}, delivered under {feed!r}"))
    if data.get("date") not in (None, date.isoformat()):
        problems.append(Problem(None, "date", f"manifest says date {data.get('date')!r}, delivered under {date.isoformat()}"))
    listed = data.get("files") or {}
    by_name = {f.path.name: f for f in files}
    for name in listed:
        if name not in by_name:
            problems.append(Problem(None, None, f"manifest lists {name} but it was not delivered"))
    for name in by_name:
        if name not in listed:
            problems.append(Problem(None, None, f"{name} was delivered but the manifest does not list it"))
    evidence = {}
    for f in files:
        entry = listed[f.path.name] or {}
        found = {}
        for key in STALENESS_FIELDS:  # a file's own value wins over the manifest's
            value = entry.get(key, data.get(key))
            try:
                found[key] = _evidence_value(key, value)
            except ValueError as exc:
                message = f"{f.path.name}: {exc}" if key in entry else str(exc)
                if all(p.message != message for p in problems):
                    problems.append(Problem(None, key, message))
        evidence[f.path.name] = found
    if problems:
        raise FeedError(feed, display, problems)
    return [
        FeedFile(f.table, f.path, f.display, listed[f.path.name].get("rows"), listed[f.path.name].get("sha256"),
                 **evidence[f.path.name])
        for f in files
    ]


#: Optional manifest fields, at the top level or per file, that say whether a snapshot is fresh.
STALENESS_FIELDS = ("extracted_at", "source_watermark", "as_of")


def _evidence_value(key: str, value) -> str | None:
    """The manifest's staleness evidence, checked and normalised (ISO UTC time, ISO date, text)."""
    if value is None:
        return None
    if key == "source_watermark":
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            raise ValueError(f"source_watermark must be a non-empty string or an integer, got {value!r}")
        return str(value)
    if key == "as_of":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"as_of must be a date YYYY-MM-DD, got {value!r}") from None
    try:
        at = dt.datetime.fromisoformat(str(value))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ValueError(f"extracted_at must be an ISO 8601 time with a time zone, got {value!r}")
    return at.astimezone(dt.timezone.utc).isoformat()


def verify_against_manifest(f: FeedFile, rows: int, sha256: str) -> None:
    problems = []
    if f.expected_sha256 is not None and f.expected_sha256.lower() != sha256:
        problems.append(Problem(None, None, "sha256 does not match the manifest (changed or truncated in transit)"))
    if f.expected_rows is not None and int(f.expected_rows) != rows:
        problems.append(Problem(None, None, f"{rows} data rows, the manifest says {f.expected_rows}"))
    if problems:
        raise FeedError(f.table.feed, f.display, problems)


class SqlSource:
    """Any SQLAlchemy URL, one query per contract table, bound with :feed_date.

    Rows stream in chunks into a CSV in the contract's format; that file is then read like a delivery.
    A query that returns no rows for a snapshot table is a source error, caught by the reader.
    """

    CHUNK = 50_000

    def __init__(self, url: str, queries: dict[str, dict[str, str]]):
        self.url, self.queries = url, queries

    @classmethod
    def from_file(cls, url: str, path: Path) -> SqlSource:
        import yaml

        return cls(url, yaml.safe_load(Path(path).read_text()) or {})

    def files_for(self, feed: str, date: dt.date, work_dir: Path | None = None) -> tuple[list[FeedFile], list[str]]:
        from sqlalchemy import create_engine, text

        if work_dir is None:
            raise ValueError("SqlSource needs a work_dir to stream query results into")
        feed_queries = self.queries.get(feed) or {}
        files = []
        engine = create_engine(self.url)
        try:
            for table in TABLES_BY_FEED[feed]:
                query = feed_queries.get(table.name)
                display = f"sql:{feed}.{table.name}"
                if query is None:
                    if table.required:
                        raise FeedError(feed, display, "no query configured for a required table")
                    continue
                out = work_dir / "extract" / feed / date.isoformat() / f"{table.name}.csv"
                out.parent.mkdir(parents=True, exist_ok=True)
                with engine.connect() as conn:
                    result = conn.execution_options(stream_results=True).execute(text(query), {"feed_date": date})
                    columns = list(result.keys())
                    with open(out, "w", newline="", encoding="utf-8") as fh:
                        writer = csv.writer(fh, lineterminator="\n")
                        writer.writerow(columns)
                        for chunk in result.partitions(self.CHUNK):
                            writer.writerows([_to_contract_text(v) for v in row] for row in chunk)
                files.append(FeedFile(table, out, display))
        finally:
            engine.dispose()
        return files, []


def _to_contract_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()  # a naive datetime has no offset, and the reader rejects it
    return str(value)
