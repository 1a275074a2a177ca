"""`vigil`: the command line. Runs the same steps as the Airflow DAG, in-process.

    vigil demo-data --landing DIR --start 2026-03-01 --days 7 --scale small --seed 42
    vigil run --date 2026-03-07 --landing DIR --warehouse PATH_OR_URL --out DIR
    vigil backfill --start 2026-03-01 --end 2026-03-07 ...
    vigil import cfpb FILE --landing DIR [--as-of YYYY-MM-DD]

Exit codes: 0 success, 1 the pipeline failed (the message says where and why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from vigil.config import ConfigError, Settings

# soft_wrap: logs and CI capture are not terminals, and a message must stay on one line there.
console = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _add_settings_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where data comes from and goes (default: VIGIL_* environment variables)")
    g.add_argument("--landing", help="landing directory with <feed>/<YYYY-MM-DD>/<table>.csv (VIGIL_LANDING)")
    g.add_argument("--warehouse", help="DuckDB file path or postgresql:// URL (VIGIL_WAREHOUSE)")
    g.add_argument("--out", type=Path, help="output directory for runs, reports and work files (VIGIL_OUT)")
    g.add_argument("--source", choices=["landing", "sql"], help="read feeds from the landing directory or a SQL database")
    g.add_argument("--source-url", help="SQLAlchemy URL of the SQL source (VIGIL_SOURCE_URL)")
    g.add_argument("--source-queries", type=Path, help="YAML file: {feed: {table: 'SELECT ... :feed_date'}}")
    g.add_argument("--demo", action="store_true", help="demo mode: generate a local pseudonymisation key if none is set")


def _settings(args) -> Settings:
    return Settings.from_env(
        landing=args.landing, warehouse=args.warehouse, out=args.out, source=args.source,
        source_url=args.source_url, source_queries=args.source_queries,
        mode="demo" if args.demo else None,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Vigil: nightly compliance data pipeline for banks.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="write realistic demo feeds for N consecutive days")
    p.add_argument("--landing", type=Path, required=True)
    p.add_argument("--start", type=_date, required=True, help="first business date (YYYY-MM-DD)")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--scale", default="small", help="tiny, small, medium, large or xl")
    p.add_argument("--seed", type=int, default=42)

    p = sub.add_parser("run", help="run the nightly pipeline for one logical date")
    p.add_argument("--date", type=_date, required=True, help="logical date D: reads the landing folders for D")
    _add_settings_args(p)

    p = sub.add_parser("backfill", help="run the nightly pipeline for every date from --start to --end, in order")
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True)
    _add_settings_args(p)

    p = sub.add_parser("import", help="map an external export into one feed folder of the landing layout")
    sources = p.add_subparsers(dest="source", required=True)
    q = sources.add_parser("cfpb", help="CFPB consumer-complaint export -> complaints feed (docs/cfpb-import.md)")
    q.add_argument("file", type=Path, help="the CFPB export (CSV)")
    q.add_argument("--landing", type=Path, required=True, help="writes <landing>/complaints/<D>/")
    q.add_argument("--as-of", type=_date, help="date folder D (default: the latest date in the file)")
    q.add_argument("--force", action="store_true", help="replace an existing complaints/<D>/ delivery")
    return parser


def cmd_demo_data(args) -> int:
    from vigil.demo import generate

    t0 = time.perf_counter()
    with console.status("generating demo feeds") as status:
        planted = generate(args.landing, args.start, args.days, scale=args.scale, seed=args.seed,
                           progress=lambda msg: status.update(msg))
    last = args.start + dt.timedelta(days=args.days - 1)
    console.print(f"[green]✓[/] wrote {args.days} days of {args.scale} demo feeds ({args.start} … {last}) "
                  f"to {args.landing} in {time.perf_counter() - t0:.1f}s")
    console.print(f"  planted cases: {args.landing / '_demo' / 'planted.json'} "
                  f"({sum(len(v) for v in planted.get('cases', {}).values())} cases)")
    return 0


def _reporter():
    status = console.status("starting")

    def report(event: str, message: str) -> None:
        if event == "start":
            status.update(f"{message} …")
        elif event == "done":
            console.print(f"  [green]✓[/] {message}")
        elif event == "warn":
            console.print(f"  [yellow]![/] {message}")

    return status, report


def _run_one(settings: Settings, date: dt.date) -> bool:
    from vigil.pipeline import run_nightly

    console.print(f"[bold]Vigil nightly run for {date}[/]  warehouse: {settings.warehouse}  out: {settings.out}")
    status, report = _reporter()
    with status:
        summary = run_nightly(settings, date, report=report)
    if summary.ok:
        console.print(f"[green]✓ {date} done[/] in {sum(s.seconds for s in summary.steps):.1f}s "
                      f"({_plural(len(summary.warnings), 'warning')}). Summary: {summary.summary_path}")
    else:
        err.print(f"[red]✗ {date} failed:[/] {summary.error}")
        err.print("  Nothing from this night was loaded past the failing step; earlier nights are untouched. "
                  f"Summary: {summary.summary_path}")
    return summary.ok


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_run(args) -> int:
    settings = _settings(args)
    ok = _run_one(settings, args.date)
    if ok:
        _print_where_to_look(settings)
    return 0 if ok else 1


def cmd_backfill(args) -> int:
    if args.end < args.start:
        err.print("--end is before --start")
        return 2
    settings = _settings(args)
    results = []
    day = args.start
    while day <= args.end:
        ok = _run_one(settings, day)
        results.append((day, ok))
        if not ok:
            break  # later nights build on this one: stop rather than run on a hole
        day += dt.timedelta(days=1)
    table = RichTable(title="backfill")
    table.add_column("date")
    table.add_column("result")
    for d, ok in results:
        table.add_row(d.isoformat(), "[green]ok[/]" if ok else "[red]failed[/]")
    console.print(table)
    if all(ok for _, ok in results):
        _print_where_to_look(settings)
        return 0
    return 1


def _print_where_to_look(settings: Settings) -> None:
    console.print("Where to look:")
    if settings.warehouse_is_postgres:
        console.print("  warehouse: schemas raw, staging, intermediate, marts in the configured PostgreSQL database")
    else:
        console.print(f"  warehouse: duckdb {settings.warehouse}  (e.g. SELECT * FROM marts.dim_employees)")
    console.print("  results:   publish.pub_leaver_access_exposure, publish.pub_kpi_scorecard, publish.pub_complainant_tiers, …")
    console.print(f"  data quality: {Path(settings.out) / 'data_docs' / 'index.html'} (Great Expectations Data Docs)")
    console.print(f"  run summaries: {Path(settings.out) / 'runs'}/<date>/summary.json")
    console.print(f"  dbt results:   {Path(settings.out) / 'dbt' / 'target' / 'run_results.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from vigil.importers import cmd_import  # the csv module only: cheap to import

    handlers = {"demo-data": cmd_demo_data, "run": cmd_run, "backfill": cmd_backfill, "import": cmd_import}
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/] {exc}")
        return 2


def entry() -> None:
    """The `vigil` console script: main(), then a quiet exit.

    Once Great Expectations and duckdb-engine have run, duckdb's bindings print pages of harmless
    "nanobind: leaked …" lines while the interpreter tears down. Output is flushed and every
    connection is closed by then, so the process skips that teardown rather than alarm the user.
    """
    code = main()
    if "duckdb_engine" not in sys.modules:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
