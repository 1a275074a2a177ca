"""The nightly pipeline's steps, as plain functions.

The Airflow DAG calls each step as one task; `vigil run` calls the same steps in-process, in the
same order. Steps take and return JSON-serialisable values, so they travel through XCom unchanged.

    extract_feed (x4, no warehouse access) -> load_feed (x4, one writer at a time) -> audit_raw
        -> build_models

Extract validates every file of a feed and stages it typed and pseudonymised; nothing reaches the
warehouse until all four feeds have passed, so bad input never touches what is already loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from vigil.config import Settings
from vigil.transforms.contract import FEEDS, TABLES_BY_FEED
from vigil.transforms.contract import table as contract_table
from vigil.transforms.pseudonymise import install_duckdb_key
from vigil.transforms.reader import StagedTable, TableReader
from vigil.transforms.sources import LandingSource, SqlSource, verify_against_manifest
from vigil.warehouse import Warehouse, configure_duckdb

log = logging.getLogger(__name__)


def new_run_id(run_date: dt.date, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"manual__{run_date.isoformat()}__{now.strftime('%Y%m%dT%H%M%SZ')}"


def work_dir(settings: Settings, run_date: dt.date) -> Path:
    return Path(settings.out) / "work" / run_date.isoformat()


def make_source(settings: Settings):
    if settings.source == "sql":
        return SqlSource.from_file(settings.source_url, settings.source_queries)
    return LandingSource(settings.landing)


def extract_feed(settings: Settings, feed: str, run_date: dt.date, run_id: str) -> dict:
    """Read and validate every delivered file of one feed; stage them as pseudonymised Parquet."""
    if feed not in FEEDS:
        raise ValueError(f"unknown feed {feed!r}; feeds are {', '.join(FEEDS)}")
    started = time.perf_counter()
    wd = work_dir(settings, run_date)
    files, warnings = make_source(settings).files_for(feed, run_date, wd)
    needs_key = any(c.pii for f in files for c in f.table.columns)
    con = duckdb.connect()
    staged: list[StagedTable] = []
    try:
        configure_duckdb(con, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads, spill_dir=wd)
        if needs_key:
            install_duckdb_key(con, settings.resolve_key())
        for f in files:
            out = wd / "staged" / feed / f"{f.table.name}.parquet"
            s = TableReader(con, f.table, f.path, f.display).stage(out)
            verify_against_manifest(f, s.rows, s.sha256)
            staged.append(s)
            warnings.extend(s.warnings)
    finally:
        con.close()
        if settings.source == "sql":
            # The SQL extract holds raw PII; only the pseudonymised Parquet may outlive this step.
            shutil.rmtree(wd / "extract" / feed, ignore_errors=True)
    return {
        "feed": feed,
        "date": run_date.isoformat(),
        "run_id": run_id,
        "tables": [s.to_dict() for s in staged],
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }


def load_feed(settings: Settings, extracted: dict, *, loaded_at: dt.datetime | None = None) -> dict:
    """Replace the night's partition of every table of one feed, in one transaction."""
    started = time.perf_counter()
    run_date = dt.date.fromisoformat(extracted["date"])
    staged = [StagedTable.from_dict(d) for d in extracted["tables"]]
    wh = Warehouse.open(settings.warehouse, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)
    loads = wh.load_feed(
        extracted["feed"], run_date, staged,
        run_id=extracted["run_id"], loaded_at=loaded_at or dt.datetime.now(dt.timezone.utc),
    )
    warnings = [
        f"{extracted['feed']}/{run_date.isoformat()}/{ld.table}: STALE — byte-identical to the previous night's delivery"
        for ld in loads if ld.stale and contract_table(extracted["feed"], ld.table).stale_is_suspicious
    ]
    for w in warnings:
        log.info(w)  # the run summary carries it as a warning; logging it as one too would say it twice
    return {
        "feed": extracted["feed"],
        "date": extracted["date"],
        "tables": [ld.to_dict() for ld in loads],
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }


def audit_raw(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """The raw layer's Great Expectations suites on night D: critical failures stop the night before
    dbt runs (so nothing downstream changes); warnings are reported. Results go to audit.dq_results
    and Data Docs to <out>/data_docs/."""
    from vigil.quality import run_suites

    result = run_suites(
        settings.warehouse, "raw", run_date=run_date, out=settings.out, run_id=run_id,
        memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads,
    )
    result.raise_for_critical()
    summary = result.to_dict()
    return {
        "date": run_date.isoformat(),
        "suites": len(result.suites),
        "expectations": len(result.expectations),
        "warnings": [f"data quality (warning): {line}" for line in summary["failed_warning"]],
        "data_docs": summary["data_docs_index"],
        "seconds": round(result.seconds, 3),
    }


def build_models(settings: Settings, run_date: dt.date) -> dict:
    """`dbt build` (models and their tests) in one invocation; per-model status from run_results.json."""
    from vigil.dbt_runner import run_dbt

    wh = Warehouse.open(settings.warehouse)
    with wh.transaction() as con:  # dbt's sources must exist even before the first delivery of a table
        wh.ensure_raw_schema(con)
    # Unit tests check the SQL, not the night's data: CI runs them (tests/test_dbt_runner.py), the
    # nightly window does not pay for them.
    result = run_dbt(
        ["build", "--exclude-resource-type", "unit_test"],
        warehouse=settings.warehouse, run_date=run_date, work_dir=Path(settings.out) / "dbt",
    )
    return {
        "date": run_date.isoformat(),
        "nodes": len(result.nodes),
        "models": sum(1 for n in result.nodes if n.unique_id.startswith("model.")),
        "tests": sum(1 for n in result.nodes if n.unique_id.startswith(("test.", "unit_test."))),
        "seconds": round(result.elapsed, 3),
        "run_results": str(Path(result.target_path) / "run_results.json"),
    }


# --------------------------------------------------------------------------- in-process runs


@dataclass
class StepReport:
    name: str
    seconds: float
    detail: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    run_date: dt.date
    run_id: str
    steps: list[StepReport] = field(default_factory=list)
    ok: bool = False
    error: str | None = None
    summary_path: Path | None = None

    @property
    def warnings(self) -> list[str]:
        return [w for s in self.steps for w in s.warnings]

    def to_dict(self) -> dict:
        return {
            "run_date": self.run_date.isoformat(),
            "run_id": self.run_id,
            "ok": self.ok,
            "error": self.error,
            "steps": [s.__dict__ for s in self.steps],
        }


Reporter = Callable[[str, str], None]  # (event, message); events: "start", "done", "warn"


def run_nightly(settings: Settings, run_date: dt.date, *, run_id: str | None = None, report: Reporter | None = None) -> RunSummary:
    """All steps for one night, in the DAG's order. Never raises for a pipeline failure: the
    summary carries the error, so backfills and the CLI can report it and stop cleanly."""
    report = report or (lambda event, msg: None)
    summary = RunSummary(run_date, run_id or new_run_id(run_date))

    def step(name: str, fn, describe) -> dict:
        report("start", name)
        t0 = time.perf_counter()
        out = fn()
        rep = StepReport(name, round(time.perf_counter() - t0, 3), describe(out), list(out.get("warnings", [])))
        summary.steps.append(rep)
        report("done", f"{name}: {rep.detail} ({rep.seconds:.1f}s)")
        for w in rep.warnings:
            report("warn", w)
        return out

    try:
        settings.resolve_key()  # fail before reading anything when production has no key
        extracted = {
            feed: step(
                f"extract {feed}",
                lambda feed=feed: extract_feed(settings, feed, run_date, summary.run_id),
                lambda out: ", ".join(f"{t['table']} {t['rows']:,} rows" for t in out["tables"]),
            )
            for feed in FEEDS
        }
        for feed in FEEDS:
            step(
                f"load {feed}",
                lambda feed=feed: load_feed(settings, extracted[feed]),
                lambda out: ", ".join(
                    f"{t['table']} {t['action']}" + (" (same file as the night before)" if t["stale"] else "")
                    for t in out["tables"]
                ),
            )
        step(
            "audit raw",
            lambda: audit_raw(settings, run_date, summary.run_id),
            lambda out: f"{out['expectations']} expectations in {out['suites']} suites; Data Docs {out['data_docs']}",
        )
        step(
            "dbt build",
            lambda: build_models(settings, run_date),
            lambda out: f"{out['models']} models, {out['tests']} tests passed",
        )
        summary.ok = True
    except Exception as exc:  # reported, not swallowed: the CLI exits non-zero with this message
        log.debug("run failed", exc_info=True)
        summary.error = str(exc)
    summary.summary_path = write_summary(settings, summary)
    return summary


def write_summary(settings: Settings, summary: RunSummary) -> Path:
    path = Path(settings.out) / "runs" / summary.run_date.isoformat() / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return path


def feeds_tables() -> dict[str, list[str]]:
    return {feed: [t.name for t in TABLES_BY_FEED[feed]] for feed in FEEDS}
