"""`vigil`: the command line. Runs the same steps as the Airflow DAG, in-process.

    vigil init --warehouse PATH_OR_URL                  create a new, empty warehouse (nothing else does, unasked)
    vigil demo-data --landing DIR --start 2026-03-01 --days 7 --scale small --seed 42
    vigil run --date 2026-03-07 --landing DIR --warehouse PATH_OR_URL --out DIR
    vigil backfill --start 2026-03-01 --end 2026-03-07 ...
    vigil status                                    the last run of each night: published / held / failed, why, where
    vigil plan --date 2026-03-07 [--json]          what night D revokes, and the breakers (no side effects)
    vigil approve --date 2026-03-07 --reason TEXT --by NAME   release a night a breaker held
    vigil deliver                                   send pending tickets (resumes after a crash)
    vigil react EVENT_FILE [--by NAME --reason TEXT]  act on an HR event now (docs/events.md)
    vigil review --quarter 2026Q1                   the quarterly review pack (PDF + XLSX)
    vigil import cfpb FILE --landing DIR [--as-of YYYY-MM-DD]
    vigil import mapped EXPORT_DIR --mapping FILE --landing DIR --date YYYY-MM-DD

Every command accepts the settings flags (--landing, --warehouse, --out, ...; or VIGIL_* variables);
its --help lists the ones it uses. Only `vigil init` and `vigil run/backfill --create-warehouse`
create a warehouse; every other command refuses one that does not exist.

Exit codes (every command):
  0  success
  1  the command ran and failed: a night failed (the message says which steps completed), a ticket
     was dead-lettered, there is nothing to approve
  2  bad usage or configuration: a bad flag or value, no warehouse at the path given, no
     pseudonymisation key in production, an unreadable configuration file
  3  a circuit breaker held the night (`run`, `backfill`) or would hold it (`plan`): nothing published,
     no tickets; see `vigil plan` / `vigil approve`; `react`: an HR event was held (docs/events.md)
  4  another process holds the warehouse (another `vigil run` at once, or any process for longer
     than VIGIL_LOCK_WAIT_SECONDS)
Predictable errors print one line (no traceback); `-v` adds debug logging and the traceback of an
unexpected error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from vigil.config import ConfigError, Settings
from vigil.ingest.contract import FEEDS
from vigil.ingest.drills import KINDS as DRILL_KINDS, SAFE_SYSTEM, new_drill, write_drill
from vigil.store.warehouse import Warehouse, WarehouseBusy, WarehouseMissing, init_warehouse, require_warehouse
from vigil.gates import breakers
from vigil.gates.breakers import approve, latest_approval

# soft_wrap: logs and CI capture are not terminals, and a message must stay on one line there.
console = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_HELD, EXIT_BUSY = 0, 1, 2, 3, 4


class UsageError(ValueError):
    """A flag's value cannot be used (exit 2); the message names the flag."""


class CommandFailed(RuntimeError):
    """The command ran and could not do its work (exit 1); the message says why."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty or only spaces")
    return text.strip()


#: The settings flags, each with its help; every command accepts them all (so one set of flags or
#: VIGIL_* variables serves every command), and its --help lists only those it uses.
_SETTINGS_FLAGS = {
    "landing": dict(help="landing directory with <feed>/<YYYY-MM-DD>/<table>.csv (VIGIL_LANDING)"),
    "warehouse": dict(help="DuckDB file path or postgresql:// URL of an existing warehouse (VIGIL_WAREHOUSE)"),
    "out": dict(type=Path, help="directory of run summaries, tickets, alerts, reports, work files (VIGIL_OUT)"),
    "source": dict(choices=["landing", "sql"], help="read feeds from the landing directory or a SQL database (VIGIL_SOURCE)"),
    "source-url": dict(help="SQLAlchemy URL of the SQL source (VIGIL_SOURCE_URL)"),
    "source-queries": dict(type=Path, help="YAML file: {feed: {table: 'SELECT ... :feed_date'}} (VIGIL_SOURCE_QUERIES)"),
    "demo": dict(action="store_true", help="demo mode: generate a local pseudonymisation key if none is set (VIGIL_MODE=demo)"),
    "delivery-config": dict(type=Path, help="ticket delivery channels per system (VIGIL_DELIVERY_CONFIG)"),
    "alerting-config": dict(type=Path, help="alert routing and channels per team (VIGIL_ALERTING_CONFIG)"),
}
_ALL = tuple(_SETTINGS_FLAGS)


def _add_settings_args(p: argparse.ArgumentParser, uses: tuple[str, ...] = _ALL) -> None:
    g = p.add_argument_group("settings (default: the VIGIL_* environment variables, see README)")
    for name, spec in _SETTINGS_FLAGS.items():
        spec = dict(spec)
        if name not in uses:
            spec["help"] = argparse.SUPPRESS  # accepted, so shared flags work everywhere; not used here
        g.add_argument(f"--{name}", **spec)


def _settings(args, **extra) -> Settings:
    return Settings.from_env(
        landing=args.landing, warehouse=args.warehouse, out=args.out, source=args.source,
        source_url=args.source_url, source_queries=args.source_queries,
        mode="demo" if args.demo else None,
        delivery_config=args.delivery_config, alerting_config=args.alerting_config, **extra,
    )


def _existing_warehouse(args, **extra) -> Settings:
    """The settings, once the warehouse they name is known to exist (checked without creating anything)."""
    settings = _settings(args, **extra)
    require_warehouse(settings.warehouse, settings.warehouse_display)
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Vigil: nightly compliance data pipeline for banks.",
                                     epilog="Exit codes: 0 success, 1 failed, 2 bad usage or configuration, "
                                            "3 a circuit breaker held (or would hold) the night.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging and unexpected errors' tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a new, empty warehouse (the only command that does, besides run --create-warehouse)")
    _add_settings_args(p, ("warehouse",))

    p = sub.add_parser("demo-data", help="write realistic demo feeds for N consecutive days")
    p.add_argument("--landing", type=Path, required=True, help="where to write <feed>/<YYYY-MM-DD>/ folders")
    p.add_argument("--start", type=_date, required=True, help="first business date (YYYY-MM-DD)")
    p.add_argument("--days", type=_positive, default=7, help="how many consecutive days (default 7)")
    p.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large", "xl"],
                   help="population size (default small: 1k employees; docs/demo-data.md)")
    p.add_argument("--seed", type=int, default=42, help="random seed: the same seed writes the same feeds (default 42)")

    create = dict(action="store_true", help="start a new, empty warehouse if there is none at --warehouse "
                                            "(without it, a missing warehouse is an error)")
    p = sub.add_parser("run", help="run the nightly pipeline for one logical date")
    p.add_argument("--date", type=_date, required=True, help="logical date D: reads the landing folders for D")
    p.add_argument("--no-actions", action="store_true", help="stop after publish: no tickets, delivery or alerts")
    p.add_argument("--full-refresh", action="store_true",
                   help="rebuild the incremental models whole (Vigil already does when it must: reruns, "
                        "backfills, reloaded nights, a changed dbt project)")
    p.add_argument("--create-warehouse", **create)
    _add_settings_args(p)

    p = sub.add_parser("backfill", help="run the nightly pipeline for every date from --start to --end, in order")
    p.add_argument("--start", type=_date, required=True, help="first logical date (YYYY-MM-DD)")
    p.add_argument("--end", type=_date, required=True, help="last logical date, included (YYYY-MM-DD)")
    p.add_argument("--no-actions", action="store_true", help="stop after publish: no tickets, delivery or alerts")
    p.add_argument("--create-warehouse", **create)
    _add_settings_args(p)

    p = sub.add_parser("status", help="the last run of each night: published, held or failed, why, and where to look")
    p.add_argument("--date", type=_date, help="only this night (default: every night under <out>/runs)")
    _add_settings_args(p, ("out",))

    p = sub.add_parser("plan", help="show what night D revokes and whether a breaker trips (no side effects)")
    p.add_argument("--date", type=_date, required=True,
                   help="a night that ran up to its breakers (as its last run recorded it, with any later approval)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (every ticket field and the breakers)")
    _add_settings_args(p, ("warehouse", "out"))

    p = sub.add_parser("approve", help="release a night held by a circuit breaker (recorded in the audit log)")
    p.add_argument("--date", type=_date, required=True, help="the held night (YYYY-MM-DD)")
    p.add_argument("--reason", type=_text, required=True, help="why the held revocations are right")
    p.add_argument("--by", type=_text, required=True, help="name of the person approving")
    _add_settings_args(p, ("warehouse",))

    p = sub.add_parser("deliver", help="send pending revocation tickets from the outbox (safe to repeat)")
    _add_settings_args(p, ("warehouse", "out", "delivery-config", "alerting-config"))

    p = sub.add_parser("react", help="act on HR event file(s) now: freeze access the same day (docs/events.md)")
    p.add_argument("event_files", nargs="+", type=Path, metavar="EVENT_FILE",
                   help="a .json (one event) or .jsonl (one a line) file; copied into <landing>/hr_events/ first")
    p.add_argument("--by", type=_text, help="with --reason: approve the plans shown now (a held event goes out)")
    p.add_argument("--reason", type=_text, help="why the held plan is right (with --by)")
    _add_settings_args(p, ("landing", "warehouse", "out", "delivery-config", "alerting-config"))

    p = sub.add_parser("drill", help="plan a drill: a marked synthetic leaver (or incident) in night D's run, timed "
                                     "through tickets, cases and alerts sent to drill channels only (docs/drills.md)",
                       epilog="Exit codes: 0 drill planned, 2 bad usage (a drill already planned for the night, "
                              "a night that already ran, a bad date, kind or system). The night's run injects it; "
                              "its timings go to <out>/drills/<D>/result.json and the review pack's Drills table.")
    p.add_argument("--kind", default="leaver",
                   help="leaver (default: a synthetic leaver in the HR and IAM feeds: ticket, case, alerts) or "
                        "incident (a synthetic severe incident in the incident register: incident case, "
                        "severe-incident alert)")
    p.add_argument("--date", type=_date, help="the night D whose run takes the drill (default: today, UTC: the "
                                              "next nightly run)")
    p.add_argument("--system", default="AD", help="the IAM system of a leaver drill's synthetic account (default AD)")
    _add_settings_args(p, ("landing", "out"))

    p = sub.add_parser("review", help="build the quarterly review pack (PDF + XLSX) for a past quarter")
    p.add_argument("--quarter", required=True, help="YYYYQn, e.g. 2026Q1: writes <out>/reviews/<quarter>/")
    _add_settings_args(p, ("warehouse", "out"))

    p = sub.add_parser("import", help="map an external export into one feed folder of the landing layout")
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    q = sources.add_parser("cfpb", help="CFPB consumer-complaint export -> complaints feed (docs/cfpb-import.md)")
    q.add_argument("file", type=Path, help="the CFPB export (CSV)")
    q.add_argument("--landing", type=Path, required=True, help="writes <landing>/complaints/<D>/")
    q.add_argument("--as-of", type=_date, help="date folder D (default: the latest date in the file)")
    q.add_argument("--force", action="store_true", help="replace an existing complaints/<D>/ delivery")
    q = sources.add_parser("mapped", help="a system's own export, through a source mapping (docs/feeds.md#source-mappings)")
    q.add_argument("file", type=Path, metavar="EXPORT_DIR", help="the folder holding the export's files")
    q.add_argument("--mapping", type=Path, required=True, help="the source mapping (e.g. transforms/source_mappings/hr_export.example.yml)")
    q.add_argument("--landing", type=Path, required=True, help="writes <landing>/<feed>/<D>/")
    q.add_argument("--date", type=_date, required=True, dest="as_of", help="date folder D (the business day the export describes)")
    q.add_argument("--force", action="store_true", help="replace an existing <feed>/<D>/ delivery")
    return parser


def cmd_init(args) -> int:
    settings = _settings(args)
    if init_warehouse(settings.warehouse):
        console.print(f"[green]✓[/] created a new, empty Vigil warehouse: {settings.warehouse_display}")
    else:
        console.print(f"{settings.warehouse_display} is already a Vigil warehouse: left as it is")
    return 0


def cmd_demo_data(args) -> int:
    from vigil_demo import generate  # heavy: the demo generator, only for this command

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


def _check_before_run(settings: Settings, actions: bool = True) -> None:
    """Configuration errors stop `run` before anything is read or created (exit 2), not after publish."""
    if not settings.create_warehouse:
        require_warehouse(settings.warehouse, settings.warehouse_display)
    if actions:
        # heavy: the actions layer pulls in scim2_models (~1 s); `vigil --help` must stay quick
        from vigil.actions.alerts.config import load_config
        from vigil.actions.delivery.config import load_delivery_config  # heavy: as above

        load_delivery_config(settings.delivery_config)
        if settings.alerting_config:
            load_config(settings.alerting_config)
    settings.resolve_key()


def _run_one(settings: Settings, date: dt.date, *, actions: bool = True, full_refresh: bool = False) -> str:
    from vigil.pipeline import run_nightly  # heavy: the whole pipeline (actions, reports), only for a run

    console.print(f"[bold]Vigil nightly run for {date}[/]  warehouse: {settings.warehouse_display}  out: {settings.out}")
    status, report = _reporter()
    with status:
        summary = run_nightly(settings, date, report=report, actions=actions, full_refresh=full_refresh)
    if summary.ok:
        console.print(f"[green]✓ {date} done[/] in {sum(s.seconds for s in summary.steps):.1f}s "
                      f"({_plural(len(summary.warnings), 'warning')}). Summary: {summary.summary_path}")
    elif summary.status == "busy":
        err.print(f"[red]✗ {date} not run:[/] {summary.error}")
    elif summary.status == "held":
        err.print(f"[yellow]⏸ {date} HELD by a circuit breaker:[/] {summary.error}")
        err.print(f"  See what would be revoked: vigil plan --date {date}. Summary: {summary.summary_path}")
    else:
        where = f" at {summary.failed_step}" if summary.failed_step else ""
        err.print(f"[red]✗ {date} failed{where}:[/] {_one_line(summary.error)}")
        err.print(f"  {completed_steps(summary.to_dict())} Summary: {summary.summary_path}")
    return summary.status


def completed_steps(summary: dict) -> str:
    """What a failed night did before it failed, and what to do next (from its summary.json)."""
    date = summary["run_date"]
    done = {s["name"]: s for s in summary.get("steps", [])}
    if "publish" not in done:
        return ("Nothing was published and no ticket was made for this night; what is published is still "
                "the night before's.")
    parts = ["published: yes"]
    nxt = f"rerun `vigil run --date {date}` (publish and tickets are repeatable; each ticket and alert goes out once)"
    if "create tickets" in done:
        parts.append(f"tickets created: {done['create tickets'].get('counts', {}).get('created', 0)}")
        if "deliver tickets" in done:
            parts += ["delivered: yes", "alerts sent: no"]
        else:
            parts.append("delivered: no")
            nxt = "rerun `vigil deliver` (it sends what the outbox holds), then " + nxt + " for the alerts"
    else:
        parts.append("tickets created: no")
    return "Completed: " + "; ".join(parts) + f" — {nxt}."


def _one_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "unknown error").strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cmd_run(args) -> int:
    settings = _settings(args, create_warehouse=args.create_warehouse or None)
    _check_before_run(settings, actions=not args.no_actions)
    status = _run_one(settings, args.date, actions=not args.no_actions, full_refresh=args.full_refresh)
    if status == "published":
        _print_where_to_look(settings)
    return _EXIT[status]


_EXIT = {"published": EXIT_OK, "failed": EXIT_FAILED, "held": EXIT_HELD, "busy": EXIT_BUSY}


def cmd_backfill(args) -> int:
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    settings = _settings(args, create_warehouse=args.create_warehouse or None)
    _check_before_run(settings, actions=not args.no_actions)
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
        table.add_row(d.isoformat(), {"published": "[green]ok[/]", "held": "[yellow]held[/]",
                                      "busy": "[red]busy[/]"}.get(status, "[red]failed[/]"))
    console.print(table)
    if all(status == "published" for _, status in results):
        _print_where_to_look(settings)
        return 0
    return _EXIT[results[-1][1]]


def cmd_status(args) -> int:
    """Read <out>/runs/<date>/summary.json (each night's last run); reads only, creates nothing."""
    settings = _settings(args)
    runs = Path(settings.out) / "runs"
    paths = sorted(runs.glob("*/summary.json")) if runs.is_dir() else []
    if args.date:
        paths = [p for p in paths if p.parent.name == args.date.isoformat()]
    if not paths:
        what = f"for {args.date} " if args.date else ""
        raise UsageError(f"no run {what}under {runs} (set --out / VIGIL_OUT to the directory `vigil run` wrote to)")
    colour = {"published": "green", "held": "yellow", "failed": "red"}
    for path in paths:
        try:
            s = json.loads(path.read_text())
            status = s["status"]
        except (OSError, ValueError, KeyError) as exc:
            console.print(f"{path.parent.name}  [red]unreadable[/]  {path}: {exc}")
            continue
        date = s["run_date"]
        warnings = sum(len(step.get("warnings", [])) for step in s.get("steps", []))
        line = f"{date}  [{colour.get(status, 'red')}]{status:<9}[/]  run {s.get('run_id')}"
        console.print(line + (f", {_plural(warnings, 'warning')}" if warnings else ""))
        if status == "held":
            console.print(f"    why:  {_one_line(s.get('error'))}")
            console.print(f"    next: vigil plan --date {date}; vigil approve --date {date} --reason TEXT --by NAME; "
                          f"then vigil run --date {date}")
        elif status != "published":
            at = f" at {s['failed_step']}" if s.get("failed_step") else ""
            console.print(f"    why:  failed{at}: {_one_line(s.get('error'))}")
            console.print(f"    next: {completed_steps(s)}")
        console.print(f"    where: {path}")
        for kind in ("tickets", "alerts"):
            folder = Path(settings.out) / kind / date
            if folder.is_dir():
                console.print(f"    {kind}: {folder}")
    return 0


def _print_plan_tables(tickets: list[dict], date: dt.date) -> None:
    """One table per ticket kind, readable at 80 columns and when piped: ticket ids and due dates never
    wrap or get cut, only a long system name folds; the employee and account ids are in --json."""
    console.print(f"planned revocations for {date}: {len(tickets)}")
    for kind in sorted({str(t.get("kind", "")) for t in tickets}):
        rows = [t for t in tickets if str(t.get("kind", "")) == kind]
        table = RichTable(title=f"{kind} ({len(rows)})", title_justify="left", box=None, pad_edge=False,
                          padding=(0, 1), header_style="bold underline")
        table.add_column("ticket_id", no_wrap=True)
        table.add_column("prio", no_wrap=True)
        table.add_column("due_by", no_wrap=True)
        table.add_column("system", overflow="fold")
        for t in sorted(rows, key=lambda t: (str(t.get("priority", "")), str(t.get("due_by", "")), str(t.get("ticket_id")))):
            table.add_row(str(t.get("ticket_id", "")), str(t.get("priority", "")), str(t.get("due_by", "")),
                          str(t.get("system", "")))
        console.print(table)


def cmd_plan(args) -> int:
    from vigil.actions.tickets.store import plan_new_tickets  # heavy: scim2_models, only for this command
    from vigil.pipeline import plan_path  # heavy: the whole pipeline (actions, reports)

    settings = _existing_warehouse(args)
    url = settings.warehouse_for("transformer")
    recorded = plan_path(settings, args.date)
    if not recorded.is_file():  # no run recorded it here: the candidate tables, if built for this night
        try:
            tickets, decision = breakers.plan(url, args.date, planner=plan_new_tickets)
        except (ValueError, RuntimeError) as not_built:  # built for another night, or never built
            raise UsageError(f"no plan for {args.date}: {recorded} does not exist (the night never reached its "
                             f"circuit breakers; `vigil status` says how it ended) and {_one_line(str(not_built))}") from None
        source = "evaluated now on publish_candidate"
    else:  # what the night's last run saw at its breakers (once published, its tickets are no longer "new")
        doc = json.loads(recorded.read_text())
        tickets = doc["tickets"]
        decision = breakers.BreakerDecision(**doc["breakers"])
        approval = _recorded_approval(url, args.date)
        if decision.status == "hold" and approval and approval.get("fingerprint") == decision.fingerprint:
            decision.status, decision.approval = "released", approval
            decision.goes_out, decision.held = decision.goes_out + decision.held, []
        source = f"as recorded by run {doc.get('run_id')} ({recorded})"
    if args.json:
        console.print_json(json.dumps({"tickets": tickets, "breakers": decision.to_dict(), "source": source},
                                      default=str))
    else:
        _print_plan_tables(tickets, args.date)
        _print_decision(decision, wrap=True)
        console.print(f"  ({source})", soft_wrap=False)
    return EXIT_HELD if decision.holds else EXIT_OK


def _recorded_approval(url: str, date: dt.date) -> dict | None:
    wh = Warehouse.open(url)
    with wh.connection() as con:
        return latest_approval(wh, con, date)


def _print_decision(decision, wrap: bool = False) -> None:
    def say(text: str) -> None:  # wrap at the terminal's width (80 when piped) where asked
        console.print(text, soft_wrap=not wrap)

    colour = {"pass": "green", "released": "yellow", "hold": "red"}.get(decision.status, "red")
    before = (f"active {decision.yesterday_active} ({decision.yesterday_date}) -> {decision.today_active}"
              if decision.yesterday_active is not None else f"active {decision.today_active} (no earlier night)")
    drill = (f" (+{decision.drill_revocations} of a drill, not counted)"
             if getattr(decision, "drill_revocations", 0) else "")
    say(f"breakers: [{colour}]{decision.status.upper()}[/]  {before}; {decision.planned_revocations} planned "
        f"revocations{drill}, threshold {decision.revocation_threshold:g}")
    for t in decision.trips:
        say(f"  - {t['reason']} [dim](holds: {', '.join(t['holds'])})[/]")
    for w in decision.warnings:
        say(f"  [yellow]warning:[/] {w}")
    if decision.approval:
        say(f"  released by {decision.approval.get('approved_by') or 'unknown'}: "
            f"{decision.approval.get('reason') or '(no reason recorded)'}")
    if decision.held:
        say(f"  held until approved: {', '.join(decision.held)}")
        say(f"  goes out tonight: {', '.join(decision.goes_out) or 'nothing'}")


def cmd_approve(args) -> int:
    from vigil.actions.tickets.store import plan_new_tickets  # heavy: scim2_models, only for this command

    settings = _existing_warehouse(args)
    try:
        decision = approve(settings.warehouse_for("transformer"), args.date, reason=args.reason, by=args.by,
                           planner=plan_new_tickets)
    except (ValueError, RuntimeError) as exc:  # not held, or no night built yet
        raise CommandFailed(f"not approved: {_one_line(str(exc))}") from None
    _print_decision(decision)
    console.print(f"Approval recorded in audit.audit_log. Rerun the night to publish and issue its tickets: "
                  f"vigil run --date {args.date} (in Airflow: clear check_breakers and its downstream tasks).")
    return 0


def cmd_deliver(args) -> int:
    from vigil.actions.tickets import deliver_tickets  # heavy: scim2_models, only for this command

    settings = _existing_warehouse(args)
    now = dt.datetime.now(dt.timezone.utc)
    run_id = f"deliver__{now:%Y%m%dT%H%M%SZ}"
    result = deliver_tickets(settings.warehouse_for("dispatcher"), settings.delivery_config, out=Path(settings.out),
                             run_id=run_id)
    console.print(" ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, (list, dict))))
    if result["dead_lettered"]:  # given up on outside the nightly run: alert here, as the night would
        from vigil.actions.alerts import dead_letter_alert  # heavy: as above
        from vigil.pipeline import send_alerts  # heavy: the whole pipeline

        sent = send_alerts(settings, now.date(), run_id, [dead_letter_alert(result["dead_lettered"], now.date(), run_id)])
        err.print(f"[red]{len(result['dead_lettered'])} ticket(s) dead-lettered[/]: alert written "
                  f"({sent.get('new', 0)} new) to {Path(settings.out) / 'alerts' / now.date().isoformat()}")
        return 1
    return 0


def cmd_react(args) -> int:
    from vigil.actions.urgent import react_files  # heavy: the ticket channels (scim2-models), as every action command
    from vigil.ingest.events import SUFFIXES, land_file  # only the event path needs it

    if bool(args.by) != bool(args.reason):
        raise UsageError("--by and --reason go together: an approval names the person and the reason")
    for f in args.event_files:
        if f.suffix not in SUFFIXES or not f.is_file():
            raise UsageError(f"{f}: not an event file (.json or .jsonl)" if f.is_file() or f.suffix not in SUFFIXES
                             else f"{f}: no such file")
    settings = _existing_warehouse(args)
    # the landing folder is the record of truth: the night reconciles from it
    landed = [land_file(settings.landing, f) for f in args.event_files]
    result = react_files(settings, landed, via="cli", approved_by=args.by, approval_reason=args.reason)
    for e in result["errors"]:
        err.print(f"[red]bad event:[/] {e} (kept in {Path(settings.landing) / 'hr_events' / 'dead_letter'})")
    for a in result["acted"]:
        console.print(f"[green]✓[/] {a['event_id']} {a['kind']} employee {a['employee_id']}: "
                      f"{_plural(len(a['tickets']), 'ticket')} {' '.join(a['tickets'])}")
    for a in result["no_action"]:
        console.print(f"- {a['event_id']} {a['kind']} employee {a['employee_id']}: nothing to freeze ({a['reason']})")
    for a in result["waiting"]:
        console.print(f"… {a['event_id']} {a['kind']}: waiting ({a['reason']}); the next sweep or night acts on it")
    for a in result["already"]:
        console.print(f"= {a}: already acted on")
    for a in result["held"]:
        err.print(f"[yellow]HELD[/] {a['event_id']} {a['kind']} employee {a['employee_id']}: {a['reason']}. "
                  f"Check it; to release exactly this plan: vigil react FILE --by NAME --reason TEXT")
    if result.get("delivered"):
        d = result["delivered"]
        console.print("delivered: " + " ".join(f"{k}={d[k]}" for k in ("sent", "acknowledged", "requests",
                                                                         "files_written") if k in d))
    for w in result["warnings"]:
        err.print(f"[yellow]warning:[/] {w}")
    if result["held"]:
        return EXIT_HELD
    return EXIT_FAILED if result["errors"] or result.get("dead_lettered_tickets") else EXIT_OK


def cmd_drill(args) -> int:
    settings = _settings(args)
    now = dt.datetime.now(dt.timezone.utc)
    day = args.date or now.date()
    if args.kind not in DRILL_KINDS:
        raise UsageError(f"--kind {args.kind!r}: a drill is one of {', '.join(DRILL_KINDS)}")
    if not SAFE_SYSTEM.match(args.system):
        raise UsageError(f"--system {args.system!r}: a system name is letters, digits, '_', '.', '-'")
    if not Path(str(settings.landing)).is_dir():
        raise UsageError(f"--landing {settings.landing}: no such directory (the landing directory the night reads)")
    _refuse_a_night_that_ran(settings, day)
    drill = new_drill(day, now=now, system=args.system, kind=args.kind)
    try:
        path = write_drill(settings.landing, drill)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    console.print(f"drill {drill.drill_id} planned for night {day}: {path}")
    sink = Path(settings.out) / "drills" / "sink"
    if drill.kind == "incident":
        console.print(f"  synthetic {drill.severity} incident {drill.incident_id}; its case goes to the delivery "
                      f"config's drill channels (else {sink}), its alerts to the drill teams (else the same sink)")
    else:
        console.print(f"  synthetic leaver {drill.employee_id}, account {', '.join(drill.account_ids)} on "
                      f"{drill.system}; its tickets and cases go to the delivery config's drill channels (else "
                      f"{sink}), its alerts to the drill teams (else the same sink)")
    return EXIT_OK


def _refuse_a_night_that_ran(settings: Settings, day: dt.date) -> None:
    """A drill goes into a night that has not run yet: a rerun of a loaded night folds nothing new into
    the incremental models (vigil.store.incremental), so the drill's leaver would never be detected."""
    try:
        require_warehouse(settings.warehouse, settings.warehouse_display)
    except WarehouseMissing:
        return  # no warehouse yet: no night has run
    wh = Warehouse.open(settings.warehouse)
    with wh.connection() as con:
        ran = wh.scalar(con, "SELECT count(*) FROM raw._vigil_loads WHERE feed_date = %s", (day,))
    if ran:
        raise UsageError(f"night {day} has already run (its feeds are loaded): a drill goes into a night that has "
                         f"not run yet; plan it for a later night (--date)")


def cmd_review(args) -> int:
    from vigil.reports import build_review_pack, parse_quarter  # heavy: reportlab, xlsxwriter

    try:
        parse_quarter(args.quarter)
    except ValueError as exc:
        raise UsageError(f"--quarter: {exc}") from None
    settings = _existing_warehouse(args)
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
    console.print(f"  run summaries: {Path(settings.out) / 'runs'}/<date>/summary.json  (vigil status)")
    console.print(f"  dbt results:   {Path(settings.out) / 'dbt' / 'target' / 'run_results.json'}")


def _error_exit(exc: BaseException) -> int | None:
    """The exit code and one-line message of a predictable error; None for anything else."""
    import duckdb

    if isinstance(exc, ValueError) and type(exc).__name__ == "DrillFileError":
        err.print(f"[red]error:[/] {_one_line(str(exc))}")
        return EXIT_USAGE
    if isinstance(exc, (ConfigError, WarehouseMissing)):
        err.print(f"[red]configuration error:[/] {_one_line(str(exc))}")
        return EXIT_USAGE
    if isinstance(exc, UsageError):
        err.print(f"[red]error:[/] {_one_line(str(exc))}")
        return EXIT_USAGE
    if isinstance(exc, CommandFailed):
        err.print(f"[red]error:[/] {_one_line(str(exc))}")
        return EXIT_FAILED
    if isinstance(exc, WarehouseBusy):
        err.print(f"[red]warehouse busy:[/] {_one_line(str(exc))}")
        return EXIT_BUSY
    if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
        err.print("[red]warehouse busy:[/] the warehouse is in use by another process (DuckDB allows one writer); "
                  "retry when it has finished")
        return EXIT_BUSY
    if isinstance(exc, LookupError) and type(exc).__name__ == "ReviewDataError":
        err.print(f"[red]error:[/] {_one_line(str(exc))}")
        return EXIT_FAILED
    if isinstance(exc, FileNotFoundError) and type(exc).__name__ == "CJKFontMissing":
        err.print(f"[red]configuration error:[/] {_one_line(str(exc))}")
        return EXIT_USAGE
    return None


def cmd_import(args) -> int:
    """`vigil import <source> FILE --landing DIR [--as-of D] [--force]`; 0 written, 1 the file
    cannot be mapped (the message names file, line and column), 2 bad usage. The importer returns
    what it wrote; this prints it."""
    # heavy: the importers and the mapping engine are a quarter second of every command's start-up,
    # which `vigil react` (a 5 s budget, docs/benchmarks.md) must not pay for
    from vigil.ingest.importers import MANIFEST, ImportSourceError, TargetExistsError
    from vigil.ingest.importers.cfpb import import_cfpb  # heavy: as above, only `vigil import cfpb`
    from vigil.ingest.mapping import MappingConfigError, apply_mapping  # heavy: as above, only `vigil import mapped`

    path = Path(args.file)
    if not (path.is_dir() if args.source == "mapped" else path.is_file()):
        err.print(f"[red]✗[/] {path}: no such {'folder' if args.source == 'mapped' else 'file'}")
        return 2
    try:
        if args.source == "cfpb":
            result = import_cfpb(args.file, args.landing, as_of=args.as_of, overwrite=args.force)
        else:
            result = apply_mapping(args.mapping, args.file, args.landing, args.as_of, overwrite=args.force)
    except (TargetExistsError, MappingConfigError) as exc:
        err.print(f"[red]✗[/] {exc}")
        return 2
    except ImportSourceError as exc:
        err.print(f"[red]✗ import failed:[/] {exc}")
        err.print("  Nothing was written to the landing directory.")
        return 1
    rel = f"{result.feed}/{result.date.isoformat()}"
    console.print(f"[green]✓[/] {args.source}: {path} -> {result.folder}")
    for f in result.files:
        console.print(f"  {rel}/{f.name}: {f.rows:,} rows  sha256 {f.sha256[:12]}…")
    console.print(f"  {rel}/{MANIFEST}")
    for what, counts in result.counts.items():
        console.print(f"  {what}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for w in result.warnings:
        console.print(f"  [yellow]![/] {w}")
    others = ", ".join(f for f in FEEDS if f != result.feed)
    console.print(f"Next: vigil run --date {result.date.isoformat()} --landing {args.landing} … "
                  f"(the night also needs the {others} feeds for that date)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed by argparse (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    handlers = {"init": cmd_init, "demo-data": cmd_demo_data, "run": cmd_run, "backfill": cmd_backfill,
                "status": cmd_status, "import": cmd_import, "plan": cmd_plan, "approve": cmd_approve,
                "deliver": cmd_deliver, "react": cmd_react, "review": cmd_review, "drill": cmd_drill}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:
        code = _error_exit(exc)
        if code is not None:
            return code
        if args.verbose:
            raise
        err.print(f"[red]vigil {args.command} failed:[/] {type(exc).__name__}: {_one_line(str(exc))} "
                  f"(vigil -v {args.command} … shows the traceback)")
        return EXIT_FAILED


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
