"""Warehouse access: the raw layer, partition loads, and checksums, on DuckDB or PostgreSQL.

A night's data for one feed lands in one transaction: every table of the feed has its partition
for date D replaced (deleted and inserted) together, or nothing changes. A partition whose source
file is byte-identical to what is already loaded is left as it is, so rerunning a night is a no-op
and every table stays byte-identical.

DuckDB: one file, one writing process. Callers open a connection per step and close it before the
next step (dbt) opens the file. Readers open it read-only (any number at once, but not while a
writer has it); a connection that finds the file locked by another process waits, retrying, up to
VIGIL_LOCK_WAIT_SECONDS, then raises WarehouseBusy naming who holds it. `vigil run` also holds a
run lock (`<warehouse>.run.lock`) for its whole night, so a second run for the same warehouse stops
at once with "another Vigil run holds the warehouse (pid N, since T)".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from vigil.config import ConfigError, WarehouseUrl
from vigil.ingest.contract import LINEAGE_COLUMNS, TABLES, TABLES_BY_FEED, Table, raw_table_ddl
from vigil.ingest.drills import drill_rows, drill_tables
from vigil.ingest.reader import StagedTable
from vigil.store.audit import ensure_audit_log
from vigil.store.ddl import needs_ddl

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
LEDGER = f"{RAW_SCHEMA}._vigil_loads"
LEDGER_DDL = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
    feed VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    feed_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    stale BOOLEAN NOT NULL,
    run_id VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL,
    extracted_at VARCHAR,
    source_watermark VARCHAR,
    as_of DATE,
    PRIMARY KEY (feed, table_name, feed_date)
)"""
#: The manifest's staleness evidence (include/vigil/ingest/sources.py), added to ledgers made before it existed.
LEDGER_EVIDENCE_COLUMNS = (("extracted_at", "VARCHAR"), ("source_watermark", "VARCHAR"), ("as_of", "DATE"))
#: Rows set aside by the reader's quarantine (include/vigil/ingest/reader.py): where they were and which rule
#: they broke, never their values (they may hold PII). Replaced with the partition they belong to.
REJECTED = f"{RAW_SCHEMA}._vigil_rejected_rows"
REJECTED_DDL = f"""CREATE TABLE IF NOT EXISTS {REJECTED} (
    feed VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    feed_date DATE NOT NULL,
    source_file VARCHAR NOT NULL,
    source_sha256 VARCHAR NOT NULL,
    source_line BIGINT NOT NULL,
    column_name VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
)"""


#: How long a connection waits for another process's lock on the DuckDB file before giving up.
LOCK_WAIT_ENV = "VIGIL_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 120.0


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse: another Vigil run (at once), or any process for longer
    than VIGIL_LOCK_WAIT_SECONDS. The message is one line and names the holder. `vigil` exits 4."""


def lock_wait_seconds() -> float:
    text = os.environ.get(LOCK_WAIT_ENV)
    if not text:
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{LOCK_WAIT_ENV} must be a number of seconds >= 0, not {text!r}")
    return value


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _lock_holder_pid(exc: BaseException) -> int | None:
    m = re.search(r"\(PID (\d+)\)", str(exc))
    return int(m.group(1)) if m else None


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a for a in raw.decode(errors="replace").split("\0") if a]


def _proc_parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def run_lock_path(path: Path) -> Path:
    return Path(str(path) + ".run.lock")


def read_run_lock(path: Path) -> dict | None:
    """The holder recorded in `<warehouse>.run.lock` ({pid, since, date}), if that process lives."""
    try:
        info = json.loads(run_lock_path(path).read_text() or "{}")
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
        return None
    return info


def describe_lock_holder(path: Path, pid: int | None) -> str:
    """Who holds the DuckDB file, in words: another Vigil run, an orphaned dbt of a killed run, or a process."""
    run = read_run_lock(path)
    if run and (pid is None or pid == run["pid"] or _proc_parent(pid) == run["pid"]):
        return f"another Vigil run holds the warehouse (pid {run['pid']}, since {run['since']})"
    if pid is None:
        return f"another process holds the warehouse {path}"
    if _orphaned_dbt(pid):
        return (f"an orphaned dbt process (pid {pid}, left by a Vigil run that was killed) holds the warehouse "
                f"{path}: stop it (kill {pid}) and rerun")
    cmd = _proc_cmdline(pid)
    what = " ".join(" ".join(Path(cmd[0]).name if i == 0 else a for i, a in enumerate(cmd[:3])).split())[:60] \
        if cmd else "a process"  # one line, short: a `python -c` script must not spill into the message
    return f"another process holds the warehouse {path} (pid {pid}: {what})"


def _orphaned_dbt(pid: int | None) -> bool:
    """A dbt process whose Vigil parent is gone (re-parented to init or a subreaper)."""
    if pid is None:
        return False
    cmd = _proc_cmdline(pid)
    if not any(Path(a).name == "dbt" for a in cmd[:2]):
        return False
    parent = _proc_parent(pid)
    parent_cmd = _proc_cmdline(parent) if parent else []
    return not any("vigil" in a or "airflow" in a or "pytest" in a for a in parent_cmd)


@contextlib.contextmanager
def hold_run_lock(path: Path, run_date: dt.date):
    """One Vigil run per DuckDB warehouse at a time: an exclusive lock on `<warehouse>.run.lock` for the
    whole night, released by the kernel however the process ends (kill -9 included). A second run
    raises WarehouseBusy at once, naming the first (pid, start time)."""
    import fcntl

    lock = run_lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = {}
            with contextlib.suppress(OSError, ValueError):
                info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            raise WarehouseBusy(f"another Vigil run holds the warehouse (pid {info.get('pid', '?')}, "
                                f"since {info.get('since', '?')})") from None
        since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": since, "date": run_date.isoformat()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def connect_duckdb_waiting(path: Path, *, read_only: bool, wait: float | None = None):
    """duckdb.connect, waiting (bounded, with backoff) while another process holds the file's lock."""
    wait = lock_wait_seconds() if wait is None else wait
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise
            pid = _lock_holder_pid(exc)
            if _orphaned_dbt(pid):  # it never lets go: say so at once
                raise WarehouseBusy(describe_lock_holder(path, pid)) from None
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"{describe_lock_holder(path, pid)}; waited {wait:g} s for it "
                                    f"({LOCK_WAIT_ENV})") from None
            if delay == 0.05:
                log.info("waiting up to %g s for the warehouse %s: %s", wait, path, describe_lock_holder(path, pid))
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)


#: DuckDB files a caller keeps open (`kept_open`): their connections are cursors of that instance.
_KEPT_OPEN: dict[Path, duckdb.DuckDBPyConnection] = {}


@contextlib.contextmanager
def kept_open(url: str | WarehouseUrl):
    """Open a DuckDB warehouse once for a burst of short steps in this process (the same-day path,
    vigil.actions.urgent): every connection to it inside is a cursor of that one database instance
    (its own transactions, as before), instead of opening the file, loading its catalog and, on
    close, checkpointing it each time: about a second of `vigil react` on a loaded machine
    (docs/benchmarks.md). The file stays locked for the whole burst, as it was between its steps;
    inside, a read-only connection is a writable cursor. Nested: the outer one holds it.
    PostgreSQL, or a file not there yet: nothing changes."""
    parsed = url if isinstance(url, WarehouseUrl) else WarehouseUrl.parse(url)
    if parsed.is_postgres or not Path(parsed.path).exists():
        yield
        return
    key = Path(parsed.path).resolve()
    if key in _KEPT_OPEN:
        yield
        return
    _KEPT_OPEN[key] = connect_duckdb_waiting(key, read_only=False)
    try:
        yield
    finally:
        _KEPT_OPEN.pop(key).close()


@dataclass
class TableLoad:
    table: str
    rows: int
    action: str  # "loaded" | "unchanged" (same file already loaded for that date)
    stale: bool  # byte-identical to the previous night's delivery
    rejected: int = 0  # rows quarantined into raw._vigil_rejected_rows

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _contract_columns(t: Table) -> list[str]:
    return [c.warehouse_name for c in t.columns]


def _all_columns(t: Table) -> list[str]:
    return _contract_columns(t) + [name for name, _ in LINEAGE_COLUMNS]


class Warehouse:
    """Common behaviour; subclasses provide connections and the bulk insert.

    Every module reads through the row readers below (fetchall, rows, scalar; %s placeholders on
    both engines) and asks `kind` when SQL must differ per engine, never the class."""

    url: str
    kind: str  # "duckdb" | "postgres"

    @staticmethod
    def open(url: str | WarehouseUrl, *, memory_limit: str = "4GB", threads: int | None = None) -> Warehouse:
        parsed = url if isinstance(url, WarehouseUrl) else WarehouseUrl.parse(url)
        if parsed.is_postgres:
            return PostgresWarehouse(parsed.text)
        return DuckDBWarehouse(parsed.path, memory_limit=memory_limit, threads=threads)

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    # Row readers -------------------------------------------------------------------------------
    def fetchall(self, con, sql: str, params=()) -> list[tuple]:
        """Every row of a query on `con` (a connection of this warehouse), as tuples."""
        return [tuple(r) for r in con.execute(sql, tuple(params)).fetchall()]

    def rows(self, con, sql: str, params=()) -> list[dict]:
        """Every row of a query as a dict, keyed by the result's column names."""
        cur = con.execute(sql, tuple(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def scalar(self, con, sql: str, params=()):
        """The first column of the first row (None when there is no row)."""
        found = self.fetchall(con, sql, params)
        return found[0][0] if found else None

    # Subclass hooks --------------------------------------------------------------------------
    def connect(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _bulk_insert(self, con, t: Table, staged: StagedTable, lineage: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    # Shared ------------------------------------------------------------------------------------
    def ensure_raw_schema(self, con) -> None:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
        for t in TABLES:
            con.execute(raw_table_ddl(t, RAW_SCHEMA))
        con.execute(LEDGER_DDL)
        for name, dtype in self._missing_ledger_columns(con):  # only when missing: ALTER needs the table's owner
            con.execute(f"ALTER TABLE {LEDGER} ADD COLUMN {name} {dtype}")
        con.execute(REJECTED_DDL)

    def _missing_ledger_columns(self, con) -> list[tuple[str, str]]:
        """Evidence columns a ledger made by an earlier release lacks (none for a new or missing ledger)."""
        have = {r[0] for r in self.fetchall(
            con, "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (RAW_SCHEMA, LEDGER.split(".", 1)[1]))}
        return [(n, t) for n, t in LEDGER_EVIDENCE_COLUMNS if have and n not in have]

    def load_feed(self, feed: str, date: dt.date, staged: list[StagedTable], *, run_id: str, loaded_at: dt.datetime,
                  evidence: dict[str, dict] | None = None) -> list[TableLoad]:
        """Replace date D's partition of every table of `feed` in one transaction. `evidence`: the
        manifest's extracted_at / source_watermark / as_of per table, recorded in the ledger."""
        by_table = {s.table: s for s in staged}
        results: list[TableLoad] = []
        with self.transaction() as con:
            self.ensure_raw_schema(con)
            for t in TABLES_BY_FEED[feed]:
                s = by_table.get(t.name)
                if s is None:
                    continue
                current = self.fetchall(
                    con,
                    f"SELECT source_sha256 FROM {LEDGER} WHERE feed = %s AND table_name = %s AND feed_date = %s",
                    (feed, t.name, date),
                )
                previous = self.fetchall(
                    con,
                    f"SELECT source_sha256 FROM {LEDGER} WHERE feed = %s AND table_name = %s AND feed_date < %s "
                    f"ORDER BY feed_date DESC LIMIT 1",
                    (feed, t.name, date),
                )
                stale = bool(previous) and previous[0][0] == s.sha256
                ev = (evidence or {}).get(t.name) or {}
                ev = (ev.get("extracted_at"), ev.get("source_watermark"),
                      dt.date.fromisoformat(ev["as_of"]) if ev.get("as_of") else None)
                if current and current[0][0] == s.sha256:
                    con.execute(f"UPDATE {LEDGER} SET extracted_at = %s, source_watermark = %s, as_of = %s "
                                f"WHERE feed = %s AND table_name = %s AND feed_date = %s", (*ev, feed, t.name, date))
                    results.append(TableLoad(t.name, s.rows, "unchanged", stale))
                    continue
                con.execute(f"DELETE FROM {RAW_SCHEMA}.{t.raw_table} WHERE _feed_date = %s", (date,))
                lineage = dict(
                    _feed_date=date, _source_file=s.source_file, _source_sha256=s.sha256,
                    _loaded_at=loaded_at, _run_id=run_id,
                )
                self._bulk_insert(con, t, s, lineage)
                con.execute(f"DELETE FROM {LEDGER} WHERE feed = %s AND table_name = %s AND feed_date = %s", (feed, t.name, date))
                con.execute(
                    f"INSERT INTO {LEDGER} (feed, table_name, feed_date, source_file, source_sha256, row_count, "
                    f"stale, run_id, loaded_at, extracted_at, source_watermark, as_of) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (feed, t.name, date, s.source_file, s.sha256, s.rows, stale, run_id, loaded_at, *ev),
                )
                con.execute(f"DELETE FROM {REJECTED} WHERE feed = %s AND table_name = %s AND feed_date = %s",
                            (feed, t.name, date))
                self._insert_rejected(con, feed, t.name, date, s, run_id, loaded_at)
                results.append(TableLoad(t.name, s.rows, "loaded", stale, s.rejected_rows))
        return results

    def inject_drill(self, feed: str, date: dt.date, drill, *, run_id: str, loaded_at: dt.datetime) -> int:
        """Put night D's drill rows (vigil.ingest.drills) into `feed`'s raw partition of D, in one
        transaction, replacing any the drill file put there before (a rerun adds nothing twice).
        Their lineage names the drill file, never the bank's: ``_source_file`` drills/<D>/drill.json."""
        source = f"drills/{date.isoformat()}/drill.json"
        rows = drill_rows(drill, feed)
        n = 0
        with self.transaction() as con:
            for t in drill_tables(feed):
                con.execute(f"DELETE FROM {RAW_SCHEMA}.{t.raw_table} WHERE _feed_date = %s AND _source_file = %s",
                            (date, source))
                cols = _contract_columns(t) + ["_feed_date", "_source_file", "_source_sha256", "_source_line",
                                               "_loaded_at", "_run_id"]
                for i, row in enumerate(rows.get(t.name, []), start=1):
                    values = [row[c.name] for c in t.columns] + [date, source, drill.sha256, i, loaded_at, run_id]
                    con.execute(f"INSERT INTO {RAW_SCHEMA}.{t.raw_table} ({', '.join(cols)}) "
                                f"VALUES ({', '.join(['%s'] * len(cols))})", tuple(values))
                    n += 1
        return n

    def discard_run(self, date: dt.date, run_id: str) -> list[str]:
        """Take back what run `run_id` loaded for night D, in one transaction: its rows of every raw
        table, its ledger and quarantine rows. For a night the raw gate failed: the failed partitions
        leave raw, and a rerun with corrected files loads them again. Tables the run left as they were
        (the same file already loaded) are untouched. Returns the tables it removed a partition from."""
        removed: list[str] = []
        with self.transaction() as con:
            loaded = self.fetchall(con, f"SELECT feed, table_name FROM {LEDGER} WHERE feed_date = %s AND run_id = %s "
                                         f"ORDER BY 1, 2", (date, run_id))
            for feed, table in loaded:
                t = next(t for t in TABLES_BY_FEED[feed] if t.name == table)
                con.execute(f"DELETE FROM {RAW_SCHEMA}.{t.raw_table} WHERE _feed_date = %s AND _run_id = %s",
                            (date, run_id))
                removed.append(f"{RAW_SCHEMA}.{t.raw_table}")
            con.execute(f"DELETE FROM {LEDGER} WHERE feed_date = %s AND run_id = %s", (date, run_id))
            con.execute(f"DELETE FROM {REJECTED} WHERE feed_date = %s AND run_id = %s", (date, run_id))
        return removed

    def _insert_rejected(self, con, feed: str, table: str, date: dt.date, s: StagedTable, run_id: str,
                         loaded_at: dt.datetime) -> None:
        if not s.rejected_path:
            return
        reader = duckdb.connect()
        try:
            rows = reader.execute("SELECT _source_line, column_name, rule FROM read_parquet(?) ORDER BY ALL",
                                  [s.rejected_path]).fetchall()
        finally:
            reader.close()
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            con.execute(
                f"INSERT INTO {REJECTED} VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk)),
                tuple(v for line, column, rule in chunk
                      for v in (feed, table, date, s.source_file, s.sha256, line, column, rule, run_id, loaded_at)),
            )

    def table_checksums(self, schemas: tuple[str, ...]) -> dict[str, tuple[int, str]]:
        """(row count, md5 of all rows in a canonical order) per table: equal means same contents."""
        with self.connection() as con:
            return {name: self._checksum(con, name) for name in self.list_tables(con, schemas)}

    def list_tables(self, con, schemas: tuple[str, ...]) -> list[str]:
        placeholders = ", ".join(["%s"] * len(schemas))
        rows = self.fetchall(
            con,
            f"SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ({placeholders}) "
            f"AND table_type = 'BASE TABLE' ORDER BY 1, 2",
            tuple(schemas),
        )
        return [f"{s}.{t}" for s, t in rows]

    def _checksum(self, con, table: str) -> tuple[int, str]:  # pragma: no cover - per engine
        raise NotImplementedError


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: Path, *, memory_limit: str = "4GB", threads: int | None = None):
        self.path = Path(path)
        self.url = str(path)
        self.memory_limit, self.threads = memory_limit, threads

    def connect(self, read_only: bool = False):
        anchor = _KEPT_OPEN.get(self.path.resolve()) if _KEPT_OPEN else None
        if anchor is not None:  # kept open by the caller: a new connection of the same instance
            con = anchor.cursor()
            configure_duckdb(con, memory_limit=self.memory_limit, threads=self.threads, spill_dir=self.path.parent)
            return _DuckDBCursor(con)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = connect_duckdb_waiting(self.path, read_only=read_only)
        configure_duckdb(con, memory_limit=self.memory_limit, threads=self.threads, spill_dir=self.path.parent)
        return _DuckDBCursor(con)

    @contextlib.contextmanager
    def connection(self, read_only: bool = True):
        con = self.connect(read_only=read_only and self.path.exists())
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self):
        con = self.connect()
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _bulk_insert(self, con, t: Table, staged: StagedTable, lineage: dict) -> None:
        contract = ", ".join(_contract_columns(t))
        con.execute(
            f"INSERT INTO {RAW_SCHEMA}.{t.raw_table} ({', '.join(_all_columns(t))}) "
            f"SELECT {contract}, %s, %s, %s, _source_line, %s, %s FROM read_parquet(%s)",
            (lineage["_feed_date"], lineage["_source_file"], lineage["_source_sha256"],
             lineage["_loaded_at"], lineage["_run_id"], staged.staged_path),
        )

    def _checksum(self, con, table: str) -> tuple[int, str]:
        rows = con.execute(
            f"SELECT count(*), coalesce(md5(string_agg(r, chr(10) ORDER BY r)), '') "
            f"FROM (SELECT CAST(t AS VARCHAR) AS r FROM {table} AS t)"
        ).fetchall()
        return int(rows[0][0]), rows[0][1]


class _DuckDBCursor:
    """Lets shared code use %s placeholders on DuckDB (which wants ?) and always drains results."""

    def __init__(self, con):
        self.raw = con

    def execute(self, sql: str, params=()):
        self.raw.execute(sql.replace("%s", "?"), list(params))
        return self

    def fetchall(self):
        return self.raw.fetchall()

    @property
    def description(self):
        return self.raw.description

    def close(self):
        self.raw.close()


def configure_duckdb(con, *, memory_limit: str = "4GB", threads: int | None = None, spill_dir: Path | None = None) -> None:
    """Bounded memory with spill to disk, UTC everywhere (dates must not shift with the host's zone)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if spill_dir is not None:
        con.execute(f"SET temp_directory = '{Path(spill_dir) / '.duckdb_spill'}'")


class PostgresWarehouse(Warehouse):
    kind = "postgres"

    def __init__(self, url: str):
        self.url = url
        self.dsn = WarehouseUrl.parse(url).dsn  # for psycopg: postgresql:// without a driver suffix

    def connect(self):
        import psycopg

        # autocommit, so `transaction()` below is a real transaction and not a savepoint inside an
        # implicit one that would be rolled back on close.
        con = psycopg.connect(self.dsn, autocommit=True)
        con.execute("SET TIME ZONE 'UTC'")
        return con

    @contextlib.contextmanager
    def connection(self, read_only: bool = True):
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self):
        con = self.connect()
        try:
            with con.transaction():
                yield con
        finally:
            con.close()

    def ensure_raw_schema(self, con) -> None:
        if not needs_ddl(con, LEDGER, REJECTED, *(f"{RAW_SCHEMA}.{t.raw_table}{suffix}" for t in TABLES
                                                  for suffix in ("", "__feed_date"))):
            if not self._missing_ledger_columns(con):
                return  # all there (vigil.store.roles made them): a least-privilege role runs no DDL
        super().ensure_raw_schema(con)  # (a ledger from an earlier release: `python -m vigil.store.roles` adds its columns)
        # Every load deletes one night's partition and every gate reads one: index the night.
        for t in TABLES:
            con.execute(f"CREATE INDEX IF NOT EXISTS {t.raw_table}__feed_date ON {RAW_SCHEMA}.{t.raw_table} (_feed_date)")

    def load_feed(self, feed: str, date: dt.date, staged: list[StagedTable], *, run_id: str,
                  loaded_at: dt.datetime, evidence: dict[str, dict] | None = None) -> list[TableLoad]:
        results = super().load_feed(feed, date, staged, run_id=run_id, loaded_at=loaded_at, evidence=evidence)
        loaded = {r.table for r in results if r.action == "loaded"}
        if loaded:
            # Statistics for tonight's rows before the gates and dbt plan their joins over them:
            # without, the planner guessed 8,682 rows for a 1.9M-row night and chose nested loops
            # (docs/benchmarks.md). A role that does not own the table gets a warning, not an error.
            with self.connection() as con:
                for t in TABLES_BY_FEED[feed]:
                    if t.name in loaded:
                        con.execute(f"ANALYZE {RAW_SCHEMA}.{t.raw_table}")
        return results

    def _bulk_insert(self, con, t: Table, staged: StagedTable, lineage: dict) -> None:
        """Stream the staged Parquet into COPY in batches: bounded memory whatever the table's size."""
        import pyarrow.csv as pacsv

        reader = duckdb.connect()
        try:
            configure_duckdb(reader)
            contract = ", ".join(_contract_columns(t))
            values = ", ".join(
                _sql_literal(v) for v in (lineage["_feed_date"], lineage["_source_file"], lineage["_source_sha256"])
            )
            tail = ", ".join(_sql_literal(v) for v in (lineage["_loaded_at"], lineage["_run_id"]))
            batches = reader.sql(
                f"SELECT {contract}, {values}, _source_line, {tail} FROM read_parquet({_sql_literal(staged.staged_path)})"
            ).to_arrow_reader(100_000)
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            columns = ", ".join(_all_columns(t))
            with con.cursor().copy(f"COPY {RAW_SCHEMA}.{t.raw_table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                for batch in batches:
                    sink = pa_buffer()
                    pacsv.write_csv(batch, sink, write_options=options)
                    copy.write(sink.getvalue().to_pybytes())
        finally:
            reader.close()

    def _checksum(self, con, table: str) -> tuple[int, str]:
        rows = con.execute(
            f"SELECT count(*), coalesce(md5(string_agg(r, chr(10) ORDER BY r)), '') FROM (SELECT t::text AS r FROM {table} AS t) s"
        ).fetchall()
        return int(rows[0][0]), rows[0][1]


def _sql_literal(value) -> str:
    if isinstance(value, dt.datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def pa_buffer():
    import pyarrow as pa

    return pa.BufferOutputStream()


# --------------------------------------------------------------------------- does the warehouse exist?


class WarehouseMissing(RuntimeError):
    """The warehouse named in the settings does not exist, or has not Vigil's schemas."""


class WarehouseUnreachable(WarehouseMissing):
    """The PostgreSQL server did not answer (nothing can be said about its schemas)."""


def _create_hint(url_display: str) -> str:
    return (f"check --warehouse / VIGIL_WAREHOUSE; to start a new, empty warehouse there on purpose: "
            f"vigil init --warehouse {url_display} (or vigil run --create-warehouse; under Airflow, "
            f"VIGIL_CREATE_WAREHOUSE=true for the first night)")


def require_warehouse(url: str, display: str | None = None) -> None:
    """Raise WarehouseMissing unless `url` is an existing Vigil warehouse (the raw schema is there).

    Creates nothing: a DuckDB file is opened read-only and only when it exists; PostgreSQL is asked
    for its schemas. A mistyped path must never start a new, empty warehouse (the ticket ledger, the
    outbox and the breakers' history live in it), so creating one is always explicit (`vigil init`,
    `--create-warehouse`, Settings.create_warehouse)."""
    display = display or url
    parsed = WarehouseUrl.parse(url)
    if parsed.is_postgres:
        import psycopg

        try:
            with psycopg.connect(parsed.dsn, autocommit=True, connect_timeout=10) as con:
                # pg_namespace, not information_schema.schemata: the latter lists only schemas the role
                # may use, and a least-privilege role (the reporter) has no privilege on raw.
                found = con.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s",
                                    (RAW_SCHEMA,)).fetchall()
        except psycopg.OperationalError as exc:
            first = (str(exc).strip().splitlines() or ["connection failed"])[0]
            raise WarehouseUnreachable(f"cannot connect to the warehouse {display}: {first}") from None
        if not found:
            raise WarehouseMissing(f"the PostgreSQL database {display} has no Vigil schemas (no schema "
                                   f"{RAW_SCHEMA}); " + _create_hint(display)) from None
        return
    path = parsed.path
    if not path.is_file():
        raise WarehouseMissing(f"no warehouse at {path}: " + _create_hint(str(path)))
    try:
        con = connect_duckdb_waiting(path, read_only=True)  # waits for a writer, then WarehouseBusy
    except duckdb.IOException as exc:
        raise WarehouseMissing(f"{path} is not a DuckDB warehouse: {str(exc).splitlines()[0]}") from None
    try:
        found = con.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = ?",
                            [RAW_SCHEMA]).fetchall()
    finally:
        con.close()
    if not found:
        raise WarehouseMissing(f"{path} is a DuckDB file but not a Vigil warehouse (no schema {RAW_SCHEMA}); "
                               + _create_hint(str(path)))


def init_warehouse(url: str) -> bool:
    """Create a new Vigil warehouse (the raw layer and the audit log); False when one was already there."""
    try:
        require_warehouse(url)
        return False
    except WarehouseUnreachable:
        raise
    except WarehouseMissing:
        pass
    wh = Warehouse.open(url)
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        ensure_audit_log(wh, con)
    return True
