"""`vigil`: the command line. Runs the same steps as the Airflow DAG, in-process.

    vigil demo-data --landing DIR --start 2026-03-01 --days 7 --scale small --seed 42
    vigil run --date 2026-03-07 --landing DIR --warehouse PATH_OR_URL --out DIR
    vigil backfill --start 2026-03-01 --end 2026-03-07 ...
    vigil plan --date 2026-03-07 [--json]          what tonight would revoke, and the breakers (no side effects)
    vigil approve --date 2026-03-07 --reason TEXT --by NAME   release a night a breaker held
    vigil deliver                                   send pending tickets (resumes after a crash)
    vigil review --quarter 2026Q1                   the quarterly review pack (PDF + XLSX)
    vigil import cfpb FILE --landing DIR [--as-of YYYY-MM-DD]
    vigil bench --scale small|medium|large|xl [--engine duckdb|postgresql]   the nightly benchmark (docs/benchmarks.md)

Exit codes: 0 success, 1 the pipeline failed (the message says where and why), 2 bad usage,
3 a circuit breaker held the night (nothing published, no tickets; see `vigil plan` / `vigil approve`).
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
    g.add_argument("--delivery-config", type=Path, help="ticket delivery channels per system (VIGIL_DELIVERY_CONFIG)")
    g.add_argument("--alerting-config", type=Path, help="alert routing and channels per team (VIGIL_ALERTING_CONFIG)")


def _settings(args) -> Settings:
    return Settings.from_env(
        landing=args.landing, warehouse=args.warehouse, out=args.out, source=args.source,
        source_url=args.source_url, source_queries=args.source_queries,
        mode="demo" if args.demo else None,
        delivery_config=args.delivery_config, alerting_config=args.alerting_config,
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
    p.add_argument("--no-actions", action="store_true", help="stop after publish: no tickets, delivery or alerts")
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild the incremental models whole (Vigil already does when it must: reruns, "
                        "backfills, reloaded nights, a changed dbt project)")
    _add_settings_args(p)

    p = sub.add_parser("backfill", help="run the nightly pipeline for every date from --start to --end, in order")
    p.add_argument("--start", type=_date, required=True)
    p.add_argument("--end", type=_date, required=True)
    p.add_argument("--no-actions", action="store_true", help="stop after publish: no tickets, delivery or alerts")
    _add_settings_args(p)

    p = sub.add_parser("plan", help="show what night D would revoke and whether a breaker trips (no side effects)")
    p.add_argument("--date", type=_date, required=True, help="a night already built (at least up to its gates)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (tickets and breaker decision)")
    _add_settings_args(p)

    p = sub.add_parser("approve", help="release a night held by a circuit breaker (recorded in the audit log)")
    p.add_argument("--date", type=_date, required=True)
    p.add_argument("--reason", required=True, help="why the held revocations are right")
    p.add_argument("--by", required=True, help="name of the person approving")
    _add_settings_args(p)

    p = sub.add_parser("deliver", help="send pending revocation tickets from the outbox (safe to repeat)")
    _add_settings_args(p)

    p = sub.add_parser("review", help="build the quarterly review pack (PDF + XLSX) for a past quarter")
    p.add_argument("--quarter", required=True, help="e.g. 2026Q3")
    _add_settings_args(p)

    p = sub.add_parser("import", help="map an external export into one feed folder of the landing layout")
    sources = p.add_subparsers(dest="source", required=True)
    q = sources.add_parser("cfpb", help="CFPB consumer-complaint export -> complaints feed (docs/cfpb-import.md)")
    q.add_argument("file", type=Path, help="the CFPB export (CSV)")
    q.add_argument("--landing", type=Path, required=True, help="writes <landing>/complaints/<D>/")
    q.add_argument("--as-of", type=_date, help="date folder D (default: the latest date in the file)")
    q.add_argument("--force", action="store_true", help="replace an existing complaints/<D>/ delivery")

    p = sub.add_parser("bench", help="benchmark two (or --nights N) nights at a demo scale: per-stage time, rows/s, memory, floor")
    if _bench_module() is not None:  # a source checkout; an installed wheel has no benchmarks/
        _bench_module().add_arguments(p)
    return parser


def _bench_module():
    """benchmarks/nightly_bench.py from the source tree (benchmarks/ is not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "nightly_bench.py"
    if not path.exists():
        return None
    if "vigil_nightly_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("vigil_nightly_bench", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["vigil_nightly_bench"] = module
        spec.loader.exec_module(module)
    return sys.modules["vigil_nightly_bench"]


def cmd_bench(args) -> int:
    bench = _bench_module()
    if bench is None:
        err.print("vigil bench runs from a source checkout (benchmarks/nightly_bench.py was not found)")
        return 2
    result = bench.from_args(args, say=lambda msg: console.print(f"  {msg}"))
    console.print(bench.render_markdown(result))
    for key in ("json", "markdown"):
        if result.get(key):
            console.print(f"{key}: {result[key]}")
    return 0


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


def _run_one(settings: Settings, date: dt.date, *, actions: bool = True, full_refresh: bool = False) -> str:
    from vigil.pipeline import run_nightly

    console.print(f"[bold]Vigil nightly run for {date}[/]  warehouse: {settings.warehouse_display}  out: {settings.out}")
    status, report = _reporter()
    with status:
        summary = run_nightly(settings, date, report=report, actions=actions, full_refresh=full_refresh)
    if summary.ok:
        console.print(f"[green]✓ {date} done[/] in {sum(s.seconds for s in summary.steps):.1f}s "
                      f"({_plural(len(summary.warnings), 'warning')}). Summary: {summary.summary_path}")
    elif summary.status == "held":
        err.print(f"[yellow]⏸ {date} HELD by a circuit breaker:[/] {summary.error}")
        err.print(f"  See what would be revoked: vigil plan --date {date}. Summary: {summary.summary_path}")
    else:
        err.print(f"[red]✗ {date} failed:[/] {summary.error}")
        err.print("  Nothing was published and no ticket was made for this night; what is published is still "
                  f"the night before's. Summary: {summary.summary_path}")
    return summary.status


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_run(args) -> int:
    settings = _settings(args)
    status = _run_one(settings, args.date, actions=not args.no_actions, full_refresh=args.full_refresh)
    if status == "published":
        _print_where_to_look(settings)
    return _EXIT[status]


_EXIT = {"published": 0, "failed": 1, "held": 3}


def cmd_backfill(args) -> int:
    if args.end < args.start:
        err.print("--end is before --start")
        return 2
    settings = _settings(args)
    results = []
    day = args.start
    while day <= args.end:
        status = _run_one(settings, day, actions=not args.no_actions)
        results.append((day, status))
        if status != "published":
            break  # later nights build on this one: stop rather than run on a hole
        day += dt.timedelta(days=1)
    table = RichTable(title="backfill")
    table.add_column("date")
    table.add_column("result")
    for d, status in results:
        table.add_row(d.isoformat(), {"published": "[green]ok[/]", "held": "[yellow]held[/]"}.get(status, "[red]failed[/]"))
    console.print(table)
    if all(status == "published" for _, status in results):
        _print_where_to_look(settings)
        return 0
    return _EXIT[results[-1][1]]


def cmd_plan(args) -> int:
    import json

    from vigil.breakers import evaluate, plan

    settings = _settings(args)
    tickets, decision = plan(settings.warehouse_for("transformer"), args.date)
    if args.json:
        console.print_json(json.dumps({"tickets": tickets, "breakers": decision.to_dict()}, default=str))
        return 0
    table = RichTable(title=f"planned revocations for {args.date} ({len(tickets)})")
    for col in ("ticket_id", "kind", "employee_id", "system", "account_id", "priority", "due_by"):
        table.add_column(col)
    for t in tickets:
        table.add_row(*(str(t.get(c, "")) for c in ("ticket_id", "kind", "employee_id", "system", "account_id",
                                                     "priority", "due_by")))
    console.print(table)
    _print_decision(decision)
    return 0


def _print_decision(decision) -> None:
    colour = {"pass": "green", "released": "yellow", "hold": "red"}[decision.status]
    console.print(f"breakers: [{colour}]{decision.status.upper()}[/]  active {decision.yesterday_active} "
                  f"({decision.yesterday_date}) -> {decision.today_active}; {decision.planned_revocations} planned "
                  f"revocations, threshold {decision.revocation_threshold:g}")
    for t in decision.trips:
        console.print(f"  - {t['reason']} [dim](holds: {', '.join(t['holds'])})[/]")
    for w in decision.warnings:
        console.print(f"  [yellow]warning:[/] {w}")
    if decision.approval:
        console.print(f"  released by {decision.approval['approved_by']}: {decision.approval['reason']}")
    if decision.held:
        console.print(f"  held until approved: {', '.join(decision.held)}")
        console.print(f"  goes out tonight: {', '.join(decision.goes_out) or 'nothing'}")


def cmd_approve(args) -> int:
    from vigil.breakers import approve

    settings = _settings(args)
    try:
        decision = approve(settings.warehouse_for("transformer"), args.date, reason=args.reason, by=args.by)
    except ValueError as exc:
        err.print(f"[red]not approved:[/] {exc}")
        return 1
    _print_decision(decision)
    console.print(f"Approval recorded in audit.audit_log. Rerun the night to publish and issue its tickets: "
                  f"vigil run --date {args.date} (in Airflow: clear check_breakers and its downstream tasks).")
    return 0


def cmd_deliver(args) -> int:
    from vigil.tickets import deliver_tickets

    settings = _settings(args)
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"deliver__{now:%Y%m%dT%H%M%SZ}"
    result = deliver_tickets(settings.warehouse_for("dispatcher"), settings.delivery_config, out=Path(settings.out),
                             run_id=run_id)
    console.print(" ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, (list, dict))))
    if result["dead_lettered"]:  # given up on outside the nightly run: alert here, as the night would
        from vigil.alerts import dead_letter_alert
        from vigil.pipeline import send_alerts

        sent = send_alerts(settings, now.date(), run_id, [dead_letter_alert(result["dead_lettered"], now.date(), run_id)])
        err.print(f"[red]{len(result['dead_lettered'])} ticket(s) dead-lettered[/]: alert written "
                  f"({sent.get('new', 0)} new) to {Path(settings.out) / 'alerts' / now.date().isoformat()}")
        return 1
    return 0


def cmd_review(args) -> int:
    from vigil.reports import build_review_pack, parse_quarter

    settings = _settings(args)
    try:
        parse_quarter(args.quarter)
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        return 2
    result = build_review_pack(settings.warehouse_for("transformer"), args.quarter, out=Path(settings.out),
                               run_id=f"review__{args.quarter}__{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}")
    console.print(f"[green]✓[/] review pack for {args.quarter}: {result['pdf']} and {result['xlsx']}")
    return 0


def _print_where_to_look(settings: Settings) -> None:
    console.print("Where to look:")
    if settings.warehouse_is_postgres:
        console.print("  warehouse: schemas raw, staging, intermediate, marts, publish in the configured PostgreSQL database")
    else:
        console.print(f"  warehouse: duckdb {settings.warehouse}  (e.g. SELECT * FROM marts.dim_employees)")
    console.print("  results:   publish.pub_leaver_access_exposure, publish.pub_kpi_scorecard, publish.pub_complainant_tiers, …")
    console.print(f"  tickets:   {Path(settings.out) / 'tickets'}/<date>/revocations.jsonl   alerts: {Path(settings.out) / 'alerts'}/<date>/alerts.jsonl")
    console.print(f"  data quality: {Path(settings.out) / 'data_docs' / 'index.html'} (Great Expectations Data Docs)")
    console.print(f"  run summaries: {Path(settings.out) / 'runs'}/<date>/summary.json")
    console.print(f"  dbt results:   {Path(settings.out) / 'dbt' / 'target' / 'run_results.json'}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from vigil.importers import cmd_import  # the csv module only: cheap to import

    handlers = {"demo-data": cmd_demo_data, "run": cmd_run, "backfill": cmd_backfill, "import": cmd_import,
                "plan": cmd_plan, "approve": cmd_approve, "deliver": cmd_deliver, "review": cmd_review,
                "bench": cmd_bench}
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
