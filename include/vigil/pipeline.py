"""The nightly pipeline's steps, as plain functions.

The night's steps and their order are one list, vigil.steps.STEPS (also STEPS here): the Airflow DAG
makes each step a task, `vigil run` (run_nightly) calls them in-process in that order. Steps take and
return JSON-serialisable values, so they travel through XCom unchanged.

    extract_feed (x4, no warehouse access) | check_source_freshness -> load_feed (x4, one writer at a
        time) -> audit_raw -> build_models (into publish_candidate) -> audit_publish -> check_breakers
        -> publish_night -> actions (tickets, delivery, alerts)

Write -> audit -> publish: a failed gate or a tripped breaker stops the night before publish_night,
so the published tables stay exactly as the night before and no ticket is made; the only alert such
a night sends is the data-quality or breaker alert that says why.

Extract validates every file of a feed and stages it typed and pseudonymised; nothing reaches the
warehouse until all four feeds have passed, so bad input never touches what is already loaded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb

from vigil.config import Settings
from vigil.ingest.contract import FEEDS, OPTIONAL_FEEDS, TABLES, TABLES_BY_FEED
from vigil.ingest.contract import table as contract_table
from vigil.ingest.drills import drill_tables, read_drill
from vigil.ingest.pseudonymise import install_duckdb_key
from vigil.ingest.reader import FeedError, Problem, StagedTable, TableReader
from vigil.ingest.sources import LandingSource, SqlSource, verify_against_manifest
from vigil.store import incremental
from vigil.store.audit import SERVICE_ACTOR, append_audit
from vigil.store.publish import CANDIDATE_SCHEMA, publish
from vigil.steps import STEPS, Night, Step, describe_build, resolve
from vigil.store.warehouse import (Warehouse, WarehouseBusy, WarehouseMissing, configure_duckdb, hold_run_lock,
                                   require_warehouse)
from vigil.build.dbt_runner import DBT_PROJECT_DIR, DbtError, run_dbt
from vigil.gates import breakers
from vigil.gates.breakers import CLOSE_TICKETS, REVOCATION_TICKETS, BreakerHold, is_held
from vigil.gates.quality import QualityGateFailed, run_suites
from vigil.gates.quality.suites import REFERENCES
from vigil.actions.alerts import (breaker_hold_alert, data_quality_alert, dead_letter_alert, derive_alerts,
                                  dispatch_alerts, overdue_ticket_alerts, refused_tickets_alert)
from vigil.actions.tickets import close_tickets, create_tickets, deliver_tickets
from vigil.actions.urgent import reconcile
from vigil.actions.cases import deliver_cases, write_cases
from vigil.actions.drills import follow_drill
from vigil.actions.tickets.store import plan_new_tickets

log = logging.getLogger(__name__)


def new_run_id(run_date: dt.date, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"manual__{run_date.isoformat()}__{now.strftime('%Y%m%dT%H%M%SZ')}"


def work_dir(settings: Settings, run_date: dt.date) -> Path:
    return Path(settings.out) / "work" / run_date.isoformat()


def timed_step(fn):
    """The step's result carries its own wall time as "seconds", so a DAG task's return value says
    how long its step took: the Airflow benchmark subtracts it from the task's duration to find
    Airflow's part (run_nightly times its steps itself, for the run summary)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> dict:
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        return {**out, "seconds": round(time.perf_counter() - started, 3)}
    return wrapper


def make_source(settings: Settings):
    if settings.source == "sql":
        return SqlSource.from_file(settings.source_url, settings.source_queries)
    return LandingSource(settings.landing, allow_symlinks=settings.landing_allow_symlinks)


def feed_ready(settings: Settings, feed: str, run_date: dt.date) -> bool:
    """Has night D's delivery of `feed` arrived (every required file present)? A SQL source is
    always ready: the query runs when extracted."""
    if settings.source == "sql":
        return True
    folder = LandingSource(settings.landing).folder(feed, run_date)
    if feed in OPTIONAL_FEEDS and not folder.exists():
        return True  # an optional feed (e.g. the ITSM's case events) the bank did not send: nothing to wait for
    return folder.is_dir() and all(
        any((folder / f"{t.file_stem}{ext}").exists() for ext in (".csv", ".parquet"))
        for t in TABLES_BY_FEED[feed] if t.required
    )


class FeedMissing(RuntimeError):
    """A feed had not arrived by its deadline: a source error, never an empty night."""


def feed_deadline(interval_end: dt.datetime, wait_seconds: int) -> dt.datetime:
    """When a missing feed becomes a source error: the end of the data interval plus the wait.

    Built from the instant (timestamp) so any aware datetime works, including Airflow's pendulum
    ones, whose astimezone() plus a timedelta comes back naive and then cannot be compared.
    """
    if interval_end.tzinfo is None:
        raise ValueError(f"interval end {interval_end!r} has no time zone")
    return dt.datetime.fromtimestamp(interval_end.timestamp(), tz=dt.timezone.utc) + dt.timedelta(seconds=wait_seconds)


def wait_for_feed(settings: Settings, feed: str, run_date: dt.date, deadline: dt.datetime,
                  now: dt.datetime | None = None) -> bool:
    """One poke of the DAG's wait: True when ready, False to wait on, FeedMissing past the deadline."""
    if feed_ready(settings, feed, run_date):
        return True
    now = now or dt.datetime.now(dt.timezone.utc)
    if deadline.tzinfo is None or now.tzinfo is None:
        raise ValueError("the feed deadline and the clock must both be time-zone aware")
    if now >= deadline:
        raise FeedMissing(
            f"{feed} feed for {run_date} had not arrived by its deadline {deadline.isoformat()} "
            f"(expected {LandingSource(settings.landing).folder(feed, run_date)}/ with every required file). "
            f"Nothing was loaded for {run_date}; deliver it and clear the task, or raise VIGIL_FEED_WAIT_SECONDS."
        )
    return False


def check_warehouse(settings: Settings) -> None:
    """WarehouseMissing unless the warehouse exists or the settings say to create it: the first steps
    that write (source freshness makes the raw schema, the loads) never start a new, empty warehouse
    at a mistyped path, under Airflow as under `vigil run` (VIGIL_CREATE_WAREHOUSE / --create-warehouse)."""
    if not settings.create_warehouse:
        require_warehouse(settings.warehouse, settings.warehouse_display)


@timed_step
def check_source_freshness(settings: Settings, run_date: dt.date) -> dict:
    """`dbt source freshness` on what the earlier nights loaded, before tonight's run touches it.

    Reported, never fatal: freshness is measured against the wall clock (of each load), so a long
    pause between nights always "fails" it; the contract checks of tonight's files are what stop a
    bad night. Skipped on the first night ever, when every source is empty and nothing can be late.
    """
    check_warehouse(settings)
    url = settings.warehouse_for("transformer")
    wh = Warehouse.open(url)
    with wh.transaction() as con:  # sources must exist before the first delivery
        wh.ensure_raw_schema(con)
        loads = wh.scalar(con, "SELECT count(*) FROM raw._vigil_loads")
    if not loads:  # the first night ever: every source is empty, which dbt calls stale; nothing can be late yet
        return {"date": run_date.isoformat(), "sources": 0, "stale": 0, "warnings": [],
                "skipped": "skipped: nothing loaded yet (the first night)"}
    warnings: list[str] = []
    try:
        result = run_dbt(["source", "freshness"], warehouse=url, run_date=run_date,
                         work_dir=Path(settings.out) / "dbt")
        nodes = result.nodes
    except DbtError as exc:
        nodes = getattr(exc, "result", None).nodes if getattr(exc, "result", None) else []
        if not nodes:
            warnings.append(f"source freshness could not be checked: {str(exc).splitlines()[0]}")
    stale = [n for n in nodes if n.status in ("warn", "error", "runtime error")]
    warnings += [f"source freshness {n.status}: {n.unique_id.removeprefix('source.vigil.')}" for n in stale]
    return {"date": run_date.isoformat(), "sources": len(nodes), "stale": len(stale), "warnings": warnings}


@timed_step
def extract_feed(settings: Settings, feed: str, run_date: dt.date, run_id: str) -> dict:
    """Read and validate every delivered file of one feed; stage them as pseudonymised Parquet."""
    if feed not in FEEDS:
        raise ValueError(f"unknown feed {feed!r}; feeds are {', '.join(FEEDS)}")
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
            s = TableReader(con, f.table, f.path, f.display, quarantine_share=settings.quarantine_max_share,
                            feed_date=run_date).stage(out)
            verify_against_manifest(f, s.rows + s.rejected_rows, s.sha256)
            staged.append(s)
            warnings.extend(s.warnings)
        check_feed_references(con, feed, staged)
        if drill_tables(feed):  # a bad drill file stops the night here, before anything is loaded
            read_drill(settings.landing, run_date)
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
        # the manifest's staleness evidence per table (vigil.gates.breakers: a quiet day or a stuck extract?)
        "evidence": {f.table.name: {"extracted_at": f.extracted_at, "source_watermark": f.source_watermark,
                                    "as_of": f.as_of} for f in files},
        "warnings": warnings,
    }


def check_feed_references(con, feed: str, staged: list[StagedTable]) -> None:
    """The raw gate's critical references within one feed (e.g. every entitlement's account is in
    the same night's accounts file), checked on the staged files before anything is loaded: a
    dangling row fails the extract naming its file, line and column, where the gate would fail the
    night after the load. A parent row the reader quarantined counts as missing."""
    by_table = {f"{s.feed}__{s.table}": s for s in staged}
    for child, parent, pairs, same_night, severity in REFERENCES:
        if severity != "critical" or not same_night or child not in by_table or parent not in by_table:
            continue
        c, p = by_table[child], by_table[parent]
        on = " AND ".join(f"p.{pc} = c.{cc}" for cc, pc in pairs)
        not_null = " AND ".join(f"c.{cc} IS NOT NULL" for cc, _ in pairs)
        rows = con.execute(
            f"SELECT min(c._source_line), count(*) FROM read_parquet(?) AS c "
            f"WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM read_parquet(?) AS p WHERE {on})",
            [c.staged_path, p.staged_path]).fetchall()
        line, count = rows[0]
        if count:
            cols = ", ".join(cc for cc, _ in pairs)
            raise FeedError(feed, c.source_file, [Problem(
                int(line), pairs[-1][0],
                f"({cols}) has no row in {p.source_file} of the same night"
                + (f" ({p.rejected_rows} of its rows were quarantined)" if p.rejected_rows else ""), int(count))])


@timed_step
def load_feed(settings: Settings, extracted: dict, *, loaded_at: dt.datetime | None = None) -> dict:
    """Replace the night's partition of every table of one feed, in one transaction."""
    run_date = dt.date.fromisoformat(extracted["date"])
    staged = [StagedTable.from_dict(d) for d in extracted["tables"]]
    check_warehouse(settings)
    wh = Warehouse.open(settings.warehouse_for("loader"), memory_limit=settings.duckdb_memory_limit,
                        threads=settings.duckdb_threads)
    loads = wh.load_feed(
        extracted["feed"], run_date, staged,
        run_id=extracted["run_id"], loaded_at=loaded_at or dt.datetime.now(dt.timezone.utc),
        evidence=extracted.get("evidence") or {},
    )
    drill = read_drill(settings.landing, run_date) if drill_tables(extracted["feed"]) else None
    injected = 0
    if drill is not None:  # a drill night (docs/drills.md): its marked synthetic rows join the night's raw rows
        # (a feed the drill's kind adds nothing to: only what a drill file put there before is taken out)
        injected = wh.inject_drill(extracted["feed"], run_date, drill, run_id=extracted["run_id"],
                                   loaded_at=loaded_at or dt.datetime.now(dt.timezone.utc))
        if injected:
            log.info("drill %s: %s row(s) added to %s/%s", drill.drill_id, injected, extracted["feed"], run_date)
    warnings = [
        f"{extracted['feed']}/{run_date.isoformat()}/{ld.table}: unchanged — byte-identical to the previous night's "
        f"delivery (the circuit breakers decide whether it is a quiet day or a stuck extract)"
        for ld in loads if ld.stale and contract_table(extracted["feed"], ld.table).stale_is_suspicious
    ]
    for w in warnings:
        log.info(w)  # the run summary carries it as a warning; logging it as one too would say it twice
    return {
        "feed": extracted["feed"],
        "date": extracted["date"],
        "tables": [ld.to_dict() for ld in loads],
        "warnings": warnings,
        **({"drill": drill.drill_id} if drill is not None and injected else {}),
    }


def audit_raw(settings: Settings, run_date: dt.date, run_id: str, *, alert: bool = True) -> dict:
    """The raw layer's Great Expectations suites on night D: critical failures stop the night before
    dbt runs (so nothing downstream changes); warnings are reported. Results go to audit.dq_results
    and Data Docs to <out>/data_docs/. A failed gate takes the night's partitions back out of raw
    (Warehouse.discard_run), so the gate refuses a night whose required tables are not loaded
    rather than pass it with nothing to check (an Airflow task cleared without the loads)."""
    wh = Warehouse.open(settings.warehouse_for("transformer"))
    with wh.transaction() as con:
        wh.ensure_raw_schema(con)
        loaded = {(f, t) for f, t in wh.fetchall(
            con, "SELECT feed, table_name FROM raw._vigil_loads WHERE feed_date = %s", (run_date,))}
    missing = [f"{t.feed}/{t.name}" for t in TABLES if t.required and (t.feed, t.name) not in loaded]
    if missing:
        raise RuntimeError(f"night {run_date} is not loaded ({', '.join(missing)} missing from raw._vigil_loads); "
                           "run its loads first (in Airflow: clear the load tasks together with audit_raw)")
    return _audit(settings, "raw", run_date, run_id, schema=None, alert=alert)


def audit_publish(settings: Settings, run_date: dt.date, run_id: str, *, alert: bool = True) -> dict:
    """The publish suites on what dbt built into publish_candidate: nothing is published unless they pass."""
    return _audit(settings, "publish", run_date, run_id, schema=CANDIDATE_SCHEMA, alert=alert)


@timed_step
def _audit(settings: Settings, layer: str, run_date: dt.date, run_id: str, *, schema: str | None,
           alert: bool = True) -> dict:
    result = run_suites(
        settings.warehouse_for("transformer"), layer, run_date=run_date, out=settings.out, run_id=run_id, schema=schema,
        memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads,
    )
    summary = result.to_dict()
    if result.failed_critical:
        if layer == "raw":
            # Write -> audit -> keep: the partitions this run loaded for D leave raw again, so a failed
            # night leaves the raw layer as it found it (for a first load of D) and the ledger without it.
            wh = Warehouse.open(settings.warehouse_for("loader"), memory_limit=settings.duckdb_memory_limit,
                                threads=settings.duckdb_threads)
            removed = wh.discard_run(run_date, run_id)
            log.info("raw gate failed for %s: removed the partitions run %s loaded (%s)", run_date, run_id,
                     ", ".join(removed) or "none")
            append_audit(Warehouse.open(settings.warehouse_for("transformer")), run_date=run_date,
                         event="raw_discarded", actor=SERVICE_ACTOR,
                         details={"run_id": run_id, "tables": removed,
                                  "failed": [f"{e.suite}:{e.expectation}" for e in result.failed_critical]})
        if alert:
            send_alerts(settings, run_date, run_id, [_dq_alert(result, run_date, run_id)], role="transformer")
        raise QualityGateFailed(result)
    return {
        "date": run_date.isoformat(),
        "layer": layer,
        "suites": len(result.suites),
        "expectations": len(result.expectations),
        "warnings": [f"data quality (warning): {line}" for line in summary["failed_warning"]],
        "data_docs": summary["data_docs_index"],
    }


def _dq_alert(result, run_date: dt.date, run_id: str):
    failures = [
        {"suite": e.suite, "table": e.table, "expectation": e.expectation, "check": e.check,
         "unexpected_count": e.unexpected_count, "element_count": e.element_count, "observed": _plain(e.observed),
         "error": e.error, "layer": result.layer}
        for e in result.failed_critical
    ]
    return data_quality_alert(failures, run_date, run_id)


def _plain(value):
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


@timed_step
def check_breakers(settings: Settings, run_date: dt.date, run_id: str, *, alert: bool = True) -> dict:
    """The circuit breakers (vigil.gates.breakers) on tonight's candidate: HOLD raises BreakerHold after
    recording the hold in the audit log and alerting; a held night publishes and issues nothing."""
    wh = Warehouse.open(settings.warehouse_for("transformer"))
    with wh.transaction() as con:  # one connection: plan the tickets, measure, record a hold
        tickets = plan_new_tickets(wh, con, run_date, CANDIDATE_SCHEMA)
        decision = breakers.measure(wh, con, run_date, tickets=tickets)
        if decision.holds:
            append_audit(wh, con=con, run_date=run_date, event="breaker_hold", actor=SERVICE_ACTOR,
                         details=decision.to_dict() | {"run_id": run_id})
    record_plan(settings, run_date, run_id, tickets, decision)
    if decision.holds:
        if alert:
            send_alerts(settings, run_date, run_id, [breaker_hold_alert(decision.to_dict(), run_id)],
                        role="transformer")
        if decision.holds_night:
            raise breakers.BreakerHold(decision)
    out = decision.to_dict()
    out["warnings"] = list(decision.warnings)
    if decision.status == "released":
        out["warnings"].append(f"breakers released by {decision.approval['approved_by']}: " + "; ".join(decision.reasons))
    elif decision.holds:
        out["warnings"].append(
            f"HELD until approved (vigil approve --date {run_date}): {', '.join(decision.held)} — "
            + "; ".join(decision.reasons) + f"; going out tonight: {', '.join(decision.goes_out)}")
    return out


def plan_path(settings: Settings, run_date: dt.date) -> Path:
    return Path(settings.out) / "runs" / run_date.isoformat() / "plan.json"


def record_plan(settings: Settings, run_date: dt.date, run_id: str, tickets: list[dict], decision) -> Path:
    """What the breakers saw for night D (its planned tickets and their decision): `vigil plan --date D`
    shows it once the candidate tables hold a later night."""
    path = plan_path(settings, run_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"run_date": run_date.isoformat(), "run_id": run_id, "tickets": tickets, "breakers": decision.to_dict()}
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return path


def _held(breakers_out: dict | None) -> list[str]:
    """The actions tonight's breaker decision (check_breakers' result) holds."""
    return list((breakers_out or {}).get("held") or [])


@timed_step
def publish_night(settings: Settings, run_date: dt.date, run_id: str, breakers_out: dict | None = None) -> dict:
    """Copy publish_candidate into publish in one transaction (vigil.store.publish) and log it, with the
    actions the breakers hold tonight (`breakers_out`: check_breakers' result)."""
    held = _held(breakers_out)
    if breakers.is_held(held, breakers.PUBLISH):  # check_breakers raised already; never publish past it
        fields = breakers.BreakerDecision.__dataclass_fields__
        raise breakers.BreakerHold(breakers.BreakerDecision(**{k: v for k, v in breakers_out.items() if k in fields}))
    url = settings.warehouse_for("transformer")
    tables = publish(url)
    append_audit(Warehouse.open(url), run_date=run_date, event="published", actor=SERVICE_ACTOR,
                 details={"run_id": run_id, "tables": tables, "held": held})
    return {"date": run_date.isoformat(), "tables": tables, "held": held}


@timed_step
def write_night_cases(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """The night's new and changed response cases to <out>/cases/<D>/cases.jsonl (docs/cases.md)."""
    return write_cases(settings.warehouse_for("dispatcher"), run_date, run_id, out=Path(settings.out))


@timed_step
def deliver_night_cases(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """The night's case documents to the ITSM's channels (docs/cases.md, "Delivery"), effectively once."""
    out = deliver_cases(settings, run_date)
    return {k: v for k, v in out.items() if k != "day"}


@timed_step
def close_revocations(settings: Settings, run_date: dt.date, run_id: str, breakers_out: dict | None = None) -> dict:
    """Close the tickets tonight's IAM snapshot shows done (the account disabled or gone), unless a
    breaker holds it (a stuck account list is no evidence that anything was done)."""
    if is_held(_held(breakers_out), CLOSE_TICKETS):
        return {"date": run_date.isoformat(), "held": True,
                "warnings": ["close tickets HELD by the breakers: no ticket closed tonight"]}
    return {"date": run_date.isoformat(), **close_tickets(settings.warehouse_for("transformer"), run_date)}


@timed_step
def reconcile_events(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """HR events (docs/events.md): act on event files the urgent path never acted on (reported), and
    raise a critical alert for an event tonight's HR snapshot contradicts (the freeze stays).
    Runs before create_tickets, so an event's tickets are tonight's own: no second ticket."""
    return reconcile(settings, run_date, run_id)


@timed_step
def issue_tickets(settings: Settings, run_date: dt.date, run_id: str, breakers_out: dict | None = None) -> dict:
    """Create tonight's revocation tickets from `publish` with their outbox rows (one transaction)."""
    if is_held(_held(breakers_out), REVOCATION_TICKETS):
        return {"date": run_date.isoformat(), "held": True,
                "warnings": ["revocation tickets HELD by the breakers: no ticket created tonight"]}
    out = create_tickets(settings.warehouse_for("transformer"), run_date, run_id, out=Path(settings.out),
                         config_path=settings.delivery_config)
    return {"date": run_date.isoformat(), **out, "warnings": undelivered_warnings(out)}


def undelivered_warnings(created: dict) -> list[str]:
    """One plain line per system whose new tickets have nowhere to go (they stay in tickets/<D>/)."""
    why = "" if created.get("delivery_configured") else \
        "; no delivery configuration: --delivery-config or VIGIL_DELIVERY_CONFIG"
    return [f"tickets created but not delivered: no channel for system {system} "
            f"({n} ticket{'s' if n != 1 else ''}{why})"
            for system, n in (created.get("unrouted_systems") or {}).items()]


@timed_step
def follow_night_drill(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """Night D's drill, if any (docs/drills.md): when it was detected, ticketed, cased, alerted."""
    return follow_drill(settings, run_date, run_id)


@timed_step
def deliver(settings: Settings, run_date: dt.date, run_id: str) -> dict:
    """Send what the outbox holds (resumable; each ticket effectively once)."""
    return {"date": run_date.isoformat(),
            **deliver_tickets(settings.warehouse_for("dispatcher"), settings.delivery_config, out=Path(settings.out), run_id=run_id)}


@timed_step
def nightly_alerts(settings: Settings, run_date: dt.date, run_id: str, *, created: dict | None = None,
                   delivered: dict | None = None, breakers_out: dict | None = None) -> dict:
    """Alerts from the published tables (tier changes, departure risk, logins, surges, handovers),
    from ticket creation (changes to issued tickets, refused; delivered tickets overdue with
    access still open) and from delivery (dead-lettered tickets); each is sent once, however often
    the night reruns. Kinds a breaker holds are not sent (they go out on the rerun after
    `vigil approve`); how many of each is in the audit log."""
    held = _held(breakers_out)
    alerts, withheld = [], {}
    for a in derive_alerts(settings.warehouse_for("dispatcher"), run_date, run_id):
        if breakers.is_held(held, f"alert:{a.kind}"):
            withheld.setdefault(a.kind, []).append(a.alert_id)
        else:
            alerts.append(a)
    warnings = []
    if withheld:
        append_audit(Warehouse.open(settings.warehouse_for("dispatcher")), run_date=run_date, event="alerts_held",
                     actor=SERVICE_ACTOR, details={"run_id": run_id, "held": held,
                                                   "alerts": {k: sorted(v) for k, v in withheld.items()}})
        warnings.append("alerts HELD by the breakers until approved: "
                        + ", ".join(f"{len(v)} {k}" for k, v in sorted(withheld.items())))
    refused = list((created or {}).get("refused") or [])
    if refused:
        alerts.append(refused_tickets_alert(refused, run_date, run_id))
    # escalation: delivered tickets past due whose access tonight's IAM snapshot still shows open
    alerts += overdue_ticket_alerts(list((created or {}).get("overdue") or []), run_date, run_id)
    dead = list((delivered or {}).get("dead_lettered") or [])
    if dead:
        alerts.append(dead_letter_alert(dead, run_date, run_id, {"dead_lettered": len(dead)}))
    return {"date": run_date.isoformat(), **send_alerts(settings, run_date, run_id, alerts),
            "held_alerts": sum(len(v) for v in withheld.values()), "warnings": warnings}


def send_alerts(settings: Settings, run_date: dt.date, run_id: str, alerts: list, *,
                role: str = "dispatcher") -> dict:
    """Dispatch alerts (written to <out>/alerts/<D>/, sent per config/alerting; each alert once).
    The gates and breakers send theirs as the transformer (their step's role), the rest as the dispatcher."""
    return dispatch_alerts(settings.warehouse_for(role), alerts, run_date=run_date, run_id=run_id, out=Path(settings.out),
                           config_path=settings.alerting_config)


@timed_step
def build_models(settings: Settings, run_date: dt.date, *, full_refresh: bool = False) -> dict:
    """`dbt build` (models and their tests) in one invocation; per-model status from run_results.json.

    The history-wide models are incremental: they fold in only the partitions delivered since the
    last build, unless vigil.store.incremental.plan_build finds a reason to rebuild them whole (a rerun,
    a backfill, a reloaded earlier night, a changed project, an unfinished last build) or
    ``full_refresh`` asks for it."""
    url = settings.warehouse_for("transformer")
    wh = Warehouse.open(url)
    with wh.transaction() as con:  # dbt's sources must exist even before the first delivery of a table
        wh.ensure_raw_schema(con)
    plan = incremental.plan_build(wh, run_date, incremental.project_fingerprint(DBT_PROJECT_DIR))
    if full_refresh and not plan.full_refresh:
        plan = incremental.BuildPlan(True, "full refresh asked for", plan.project_fingerprint, plan.raw_fingerprint)
    log.info("dbt build for %s: %s", run_date, plan.reason)
    build_id = incremental.record_start(wh, run_date, plan)
    # Unit tests check the SQL, not the night's data: CI runs them (tests/build/test_dbt_runner.py), the
    # nightly window does not pay for them.
    result = run_dbt(
        ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if plan.full_refresh else [])],
        warehouse=url, run_date=run_date, work_dir=Path(settings.out) / "dbt",
    )
    incremental.record_finish(wh, build_id)
    counts = result.test_counts()
    return {
        "date": run_date.isoformat(),
        "full_refresh": plan.full_refresh,
        "build_plan": plan.reason,
        "nodes": len(result.nodes),
        "models": sum(1 for n in result.nodes if n.unique_id.startswith("model.")),
        "tests": sum(counts.values()),
        "tests_passed": counts["passed"],
        "tests_warned": counts["warned"],
        "tests_skipped": counts["skipped"],
        "run_results": str(Path(result.target_path) / "run_results.json"),
        "warnings": [f"dbt test warned: {n.name}: {n.message or 'warn'}"
                     for n in result.warned_nodes if n.resource_type in ("test", "unit_test")],
    }


# --------------------------------------------------------------------------- what each step of vigil.steps.STEPS calls
# Looked up here, by task id, so that vigil.steps (which the DAG parses) imports neither this module nor duckdb.


def _wait(night: Night, feed: str) -> bool:
    deadline = feed_deadline(night.interval_end, night.settings.feed_wait_seconds)
    return wait_for_feed(night.settings, feed, night.run_date, deadline)


def _extract(night: Night, feed: str) -> dict:
    return extract_feed(night.settings, feed, night.run_date, night.run_id)


def _freshness(night: Night, feed: None) -> dict:
    return check_source_freshness(night.settings, night.run_date)


def _load(night: Night, feed: str, extracted: dict) -> dict:
    return load_feed(night.settings, extracted)


def _audit_raw(night: Night, feed: None) -> dict:
    return audit_raw(night.settings, night.run_date, night.run_id, alert=night.alert)


def _dbt_build(night: Night, feed: None) -> dict:
    return build_models(night.settings, night.run_date, full_refresh=night.full_refresh)


def _audit_publish(night: Night, feed: None) -> dict:
    return audit_publish(night.settings, night.run_date, night.run_id, alert=night.alert)


def _check_breakers(night: Night, feed: None) -> dict:
    return check_breakers(night.settings, night.run_date, night.run_id, alert=night.alert)


# Each action gets the breakers' decision: what it holds tonight (vigil.gates.breakers.SCOPES).
def _publish(night: Night, feed: None, decision: dict) -> dict:
    return publish_night(night.settings, night.run_date, night.run_id, decision)


def _close_tickets(night: Night, feed: None, decision: dict) -> dict:
    return close_revocations(night.settings, night.run_date, night.run_id, decision)


def _create_tickets(night: Night, feed: None, decision: dict) -> dict:
    return issue_tickets(night.settings, night.run_date, night.run_id, decision)


def _write_cases(night: Night, feed: None) -> dict:
    return write_night_cases(night.settings, night.run_date, night.run_id)


def _deliver_cases(night: Night, feed: None) -> dict:
    return deliver_night_cases(night.settings, night.run_date, night.run_id)


def _hr_events(night: Night, feed: None) -> dict:
    return reconcile_events(night.settings, night.run_date, night.run_id)


def _deliver_tickets(night: Night, feed: None) -> dict:
    return deliver(night.settings, night.run_date, night.run_id)


def _follow_drill(night: Night, feed: None) -> dict:
    return follow_night_drill(night.settings, night.run_date, night.run_id)


def _send_alerts(night: Night, feed: None, created: dict, delivered: dict, decision: dict) -> dict:
    return nightly_alerts(night.settings, night.run_date, night.run_id, created=created, delivered=delivered,
                          breakers_out=decision)



RUNNERS: dict[str, Callable[..., dict]] = {
    "wait": _wait, "extract": _extract, "source_freshness": _freshness, "load": _load, "audit_raw": _audit_raw,
    "dbt_build": _dbt_build, "audit_publish": _audit_publish, "check_breakers": _check_breakers,
    "publish": _publish, "write_cases": _write_cases, "close_tickets": _close_tickets, "hr_events": _hr_events, "create_tickets": _create_tickets,
    "deliver_tickets": _deliver_tickets, "deliver_cases": _deliver_cases, "send_alerts": _send_alerts,
    "follow_drill": _follow_drill,
}


def run_step(step: Step, night: Night, feed: str | None = None, *inputs) -> dict:
    """Run one step of the night (one instance of a per-feed step): what the DAG's tasks and run_nightly call."""
    return RUNNERS[step.task_id](night, feed, *inputs)


# --------------------------------------------------------------------------- in-process runs


@dataclass
class StepReport:
    name: str
    seconds: float
    detail: str
    warnings: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # the step's integer results, e.g. {"created": 3}


@dataclass
class RunSummary:
    run_date: dt.date
    run_id: str
    steps: list[StepReport] = field(default_factory=list)
    ok: bool = False
    status: str = "failed"  # "published" | "held" (a breaker tripped) | "failed" | "busy" (another process has the warehouse)
    error: str | None = None
    failed_step: str | None = None  # the step that raised (None when the night published)
    summary_path: Path | None = None

    @property
    def warnings(self) -> list[str]:
        return [w for s in self.steps for w in s.warnings]

    def to_dict(self) -> dict:
        return {
            "run_date": self.run_date.isoformat(),
            "run_id": self.run_id,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "failed_step": self.failed_step,
            "steps": [s.__dict__ for s in self.steps],
        }


Reporter = Callable[[str, str], None]  # (event, message); events: "start", "done", "warn"


def run_nightly(settings: Settings, run_date: dt.date, *, run_id: str | None = None, report: Reporter | None = None,
                actions: bool = True, full_refresh: bool = False) -> RunSummary:
    """Every step of vigil.steps.STEPS for one night, in order (the DAG's steps). Never raises for a pipeline failure: the
    summary carries the error, so backfills and the CLI can report it and stop cleanly.

    actions=False stops after publish: no tickets, no delivery, no alerts (model tests, benchmarks
    of the data path, `vigil run --no-actions`). full_refresh=True rebuilds the incremental models
    whole (build_models).

    One run per DuckDB warehouse at a time: when another run holds it, the summary says so with
    status "busy" (`vigil` exits 4) and nothing is read or written, not even this night's summary."""
    report = report or (lambda event, msg: None)
    summary = RunSummary(run_date, run_id or new_run_id(run_date))
    if not settings.create_warehouse:  # a mistyped path must not start a new, empty warehouse
        try:  # before the run lock, whose file would sit beside the mistyped path: creates nothing
            require_warehouse(settings.warehouse, settings.warehouse_display)
        except WarehouseMissing as exc:
            summary.error, summary.failed_step = str(exc), "settings"
            return summary
    try:
        run_lock = _run_lock(settings, run_date)
        run_lock.__enter__()
    except WarehouseBusy as exc:
        # Another run has this warehouse: report it and leave everything, its summary included, alone.
        summary.error, summary.status = str(exc), "busy"
        return summary
    try:
        return _run_nightly_locked(settings, run_date, summary, report, actions=actions, full_refresh=full_refresh)
    finally:
        run_lock.__exit__(None, None, None)


def _run_lock(settings: Settings, run_date: dt.date):
    """One run per DuckDB warehouse at a time (vigil.store.warehouse.hold_run_lock). PostgreSQL takes
    concurrent sessions; its loads and publish are transactions."""
    where = settings.warehouse_url
    if where.is_postgres:
        return contextlib.nullcontext()
    return hold_run_lock(where.path, run_date)


def _run_nightly_locked(settings: Settings, run_date: dt.date, summary: RunSummary, report: Reporter, *,
                        actions: bool, full_refresh: bool) -> RunSummary:
    planted = demo_planted_cases(settings)

    def step(name: str, fn, describe) -> dict:
        summary.failed_step = name  # until it has finished
        report("start", name)
        t0 = time.perf_counter()
        out = fn()
        rep = StepReport(name, round(time.perf_counter() - t0, 3), describe(out),
                         [label_planted(w, planted) for w in out.get("warnings", [])],
                         {k: v for k, v in out.items() if isinstance(v, int) and not isinstance(v, bool)})
        summary.steps.append(rep)
        report("done", f"{name}: {rep.detail} ({rep.seconds:.1f}s)")
        for w in rep.warnings:
            report("warn", w)
        return out

    try:
        summary.failed_step = "settings"
        settings.resolve_key()  # fail before reading anything when production has no key
        night = Night(settings, run_date, summary.run_id, full_refresh=full_refresh, alert=actions)
        results: dict[str, dict] = {}
        for s in STEPS:  # the DAG's steps (vigil.steps), in an order that runs each after what it needs
            if s.sensor or (s.action and not actions):
                continue  # a sensor waits under Airflow only; --no-actions stops after publish
            for task_id, feed in s.instances():
                inputs = [results[t] for ref in s.inputs for t in resolve(ref, feed)]
                results[task_id] = step(s.label_for(feed), functools.partial(run_step, s, night, feed, *inputs), s.describe)
        summary.ok = True
        summary.status = "published"
        summary.failed_step = None
    except Exception as exc:  # reported, not swallowed: the CLI exits non-zero with this message
        log.debug("run failed", exc_info=True)
        summary.error = str(exc)
        summary.status = "held" if isinstance(exc, BreakerHold) else "busy" if isinstance(exc, WarehouseBusy) \
            else "failed"
    summary.summary_path = write_summary(settings, summary)
    return summary


#: Warnings the demo data causes on purpose: (text in the warning, planted.json case).
PLANTED_WARNINGS = (
    ("referential:employee_id->hr__employees", "orphan_accounts"),            # GX, raw iam accounts
    ("relationships_stg_iam__accounts_employee_id__", "orphan_accounts"),      # dbt warn tests
    ("relationships_dim_accounts_employee_id__", "orphan_accounts"),
)


def demo_planted_cases(settings: Settings) -> dict:
    """Demo mode only: the cases planted in the demo feeds (<landing>/_demo/planted.json), else {}."""
    path = Path(str(settings.landing)) / "_demo" / "planted.json"
    if settings.mode != "demo" or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text()).get("cases") or {}
    except (OSError, ValueError):
        return {}


def label_planted(warning: str, planted: dict) -> str:
    """A warning the demo data plants on purpose says so (docs/demo-data.md), so nobody chases it."""
    for text, case in PLANTED_WARNINGS:
        if text in warning and planted.get(case):
            keys = ", ".join(sorted({c.get("key", "?") for c in planted[case]}))
            return f"{warning} (planted demo defect: {case} {keys}, see docs/demo-data.md)"
    return warning


def write_summary(settings: Settings, summary: RunSummary) -> Path:
    path = Path(settings.out) / "runs" / summary.run_date.isoformat() / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return path
