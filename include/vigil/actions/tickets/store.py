"""Tickets in the warehouse: plan, create (transactional outbox), close, acknowledge.

Tables (schema ``tickets``; only status-like columns are ever UPDATEd, nothing is deleted):

* ``tickets.tickets`` - one row per ticket: its facts, the canonical document (``payload``) and
  its lifecycle (``status``, ``status_at``, ``closed_at``);
* ``tickets.outbox`` - one row per ticket per delivery channel, written in the same transaction
  as the ticket; the deliverer updates ``state, attempts, next_attempt_at, last_status,
  last_error`` only;
* ``tickets.delivery_attempts`` - append-only, one row per HTTP call or file write;
* ``tickets.revisions`` - append-only, one row per revision after the first: the ticket's priority
  followed the account's state (same ticket_id, ``revision`` n + 1, the whole new document),
  re-delivered through new outbox rows whose ``payload_sha256`` names that document.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from vigil.actions.delivery.config import DeliveryConfig, drill_channels, load_delivery_config
from vigil.actions.delivery.files import atomic_write
from vigil.actions.delivery.outbox import (
    attempt_columns, attempts_ddl, idempotency_key_for, insert, outbox_columns, outbox_ddl, outbox_id_for, rows,
)
from vigil.actions.tickets import model
from vigil.config import is_drill_id
from vigil.store.audit import append_audit_events, ensure_audit_log
from vigil.store.ddl import needs_ddl
from vigil.store.warehouse import Warehouse

log = logging.getLogger(__name__)

SCHEMA = "tickets"
TICKETS = f"{SCHEMA}.tickets"
OUTBOX = f"{SCHEMA}.outbox"
ATTEMPTS = f"{SCHEMA}.delivery_attempts"
REVISIONS = f"{SCHEMA}.revisions"
ACTOR = "vigil-tickets"

EXPOSURE = "pub_leaver_access_exposure"
ENTITLEMENTS = "pub_leaver_entitlements"
NOTICE = "pub_notice_restrictions"
EVIDENCE_FEEDS = ("hr", "iam")

TICKETS_COLUMNS = (
    "ticket_id", "kind", "group_key", "employee_id", "system", "account_id", "account_ids", "priority", "due_by",
    "actions", "reason", "rule_id", "rule_version", "event_date", "run_id", "run_date", "input_hashes",
    "content_sha256", "payload", "created_at", "status", "status_at", "closed_at",
)
OUTBOX_COLUMNS = outbox_columns("ticket_id", "system")
REVISION_COLUMNS = (
    "ticket_id", "revision", "priority", "due_by", "payload", "payload_sha256", "reason", "run_id", "run_date",
    "created_at",
)
ATTEMPT_COLUMNS = attempt_columns("ticket_id")

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {TICKETS} (
    ticket_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    group_key VARCHAR NOT NULL,
    employee_id VARCHAR NOT NULL,
    system VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL,
    account_ids VARCHAR NOT NULL,
    priority VARCHAR NOT NULL,
    due_by TIMESTAMPTZ NOT NULL,
    actions VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    rule_id VARCHAR NOT NULL,
    rule_version VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    run_id VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    input_hashes VARCHAR NOT NULL,
    content_sha256 VARCHAR NOT NULL,
    payload VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL,
    status_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ
)""",
    outbox_ddl(OUTBOX, "ticket_id", "system"),
    attempts_ddl(ATTEMPTS, "ticket_id"),
    f"""CREATE TABLE IF NOT EXISTS {REVISIONS} (
    ticket_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    priority VARCHAR NOT NULL,
    due_by TIMESTAMPTZ NOT NULL,
    payload VARCHAR NOT NULL,
    payload_sha256 VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    run_date DATE NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticket_id, revision)
)""",
)
PG_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS tickets__group_key ON {TICKETS} (group_key)",
    f"CREATE INDEX IF NOT EXISTS tickets__status ON {TICKETS} (status)",
    f"CREATE INDEX IF NOT EXISTS outbox__due ON {OUTBOX} (state, next_attempt_at)",
    f"CREATE INDEX IF NOT EXISTS outbox__ticket ON {OUTBOX} (ticket_id)",
    f"CREATE INDEX IF NOT EXISTS delivery_attempts__outbox ON {ATTEMPTS} (outbox_id)",
)


def ensure_ticket_tables(wh: Warehouse, con) -> None:
    """Create schema ``tickets`` and its four tables (idempotent; CREATE ... IF NOT EXISTS)."""
    indexes = [f"{SCHEMA}." + sql.split(" IF NOT EXISTS ")[1].split()[0] for sql in PG_INDEXES]
    if not needs_ddl(con, TICKETS, OUTBOX, ATTEMPTS, REVISIONS, *indexes):
        return  # all there (vigil.store.roles made them): a least-privilege role runs no DDL
    for sql in DDL:
        con.execute(sql)
    if wh.is_postgres:
        for sql in PG_INDEXES:
            con.execute(sql)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


_rows = rows  # the core's: dicts on either engine
_insert = insert


def _tables(wh: Warehouse, con, schema: str) -> set[str]:
    return {t.split(".", 1)[1] for t in wh.list_tables(con, (schema,))}


# --------------------------------------------------------------------------- reading the night


def input_hashes(wh: Warehouse, con, run_date: dt.date) -> dict[str, str]:
    """sha256 of every HR and IAM file the night's rules read: the latest load on or before D."""
    if "_vigil_loads" not in _tables(wh, con, "raw"):
        return {}
    rows = _rows(
        wh, con,
        "SELECT l.feed, l.table_name, l.source_file, l.source_sha256 FROM raw._vigil_loads l "
        "JOIN (SELECT feed, table_name, max(feed_date) AS feed_date FROM raw._vigil_loads WHERE feed_date <= %s "
        "GROUP BY feed, table_name) m ON m.feed = l.feed AND m.table_name = l.table_name AND m.feed_date = l.feed_date "
        "ORDER BY l.feed, l.table_name",
        (run_date,),
    )
    return {r["source_file"]: r["source_sha256"] for r in rows if r["feed"] in EVIDENCE_FEEDS}


def _candidates(wh: Warehouse, con, run_date: dt.date, run_id: str, schema: str) -> list[model.Candidate]:
    present = _tables(wh, con, schema)
    missing = [t for t in (EXPOSURE, ENTITLEMENTS, NOTICE) if t not in present]
    if missing:
        raise RuntimeError(f"tickets: {schema} has no {', '.join(missing)} (did the night build and publish?)")
    exposure = _rows(wh, con, f"SELECT * FROM {schema}.{EXPOSURE} ORDER BY employee_id, system, account_id")
    entitlements = _rows(wh, con, f"SELECT * FROM {schema}.{ENTITLEMENTS} ORDER BY system, account_id, entitlement")
    notice = _rows(wh, con, f"SELECT * FROM {schema}.{NOTICE} ORDER BY employee_id, system, account_id, entitlement")
    as_of = {r["as_of_date"] for r in exposure + notice}
    if as_of and as_of != {run_date}:
        raise RuntimeError(
            f"tickets: {schema} describes {sorted(d.isoformat() for d in as_of)}, not {run_date}: refusing to issue "
            f"tickets with the wrong evidence"
        )
    hashes = input_hashes(wh, con, run_date)
    if (exposure or notice) and not hashes:
        raise RuntimeError(f"tickets: no input file hashes in raw._vigil_loads on or before {run_date}: no evidence")
    return model.build_candidates(exposure, entitlements, notice, run_date=run_date, run_id=run_id,
                                  input_hashes=hashes, grace_days=model.ticket_grace_days())


def _existing_by_group(wh: Warehouse, con, group_keys: list[str]) -> dict[str, list[dict]]:
    if "tickets" not in _tables(wh, con, SCHEMA) or not group_keys:
        return {}
    out: dict[str, list[dict]] = {}
    keys = sorted(set(group_keys))
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for r in _rows(
            wh, con,
            f"SELECT ticket_id, group_key, account_ids, actions, content_sha256, status FROM {TICKETS} "
            f"WHERE group_key IN ({', '.join(['%s'] * len(chunk))}) ORDER BY created_at, ticket_id",
            tuple(chunk),
        ):
            out.setdefault(r["group_key"], []).append(r)
    return out


URGENT_RUN_PREFIX = "urgent__"  # run_id of a ticket the same-day path issued (vigil.actions.urgent)


def hire_dates(wh: Warehouse, con, employee_ids, on_or_before: dt.date) -> dict[str, dt.date]:
    """Each employee's hire_date in the latest HR snapshot on or before a day (a rehire moves it):
    none when the raw HR table or its hire_date column is not there."""
    ids = sorted(set(employee_ids))
    if not ids or not wh.fetchall(
            con, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'raw' "
                 "AND table_name = 'hr__employees' AND column_name = 'hire_date'")[0][0]:
        return {}
    latest = wh.fetchall(con, "SELECT max(_feed_date) FROM raw.hr__employees WHERE _feed_date <= %s",
                         (on_or_before,))[0][0]
    out: dict[str, dt.date] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in _rows(wh, con, f"SELECT employee_id, CAST(hire_date AS DATE) AS hire_date FROM raw.hr__employees "
                                f"WHERE _feed_date = %s AND employee_id IN ({', '.join(['%s'] * len(chunk))})",
                       (latest, *chunk)):
            if r["hire_date"] is not None:
                out[r["employee_id"]] = r["hire_date"]
    return out


def same_departure(ticket_day: dt.date, day: dt.date, window_days: int, hired: dt.date | None) -> bool:
    """Is a ticket for `ticket_day` the one a rule would give for `day` (same kind, employee, system)?

    HR and an HR event may record a departure's day differently (the last day worked, the day
    after, a day earlier): within `window_days` it is one departure, unless the employee was
    (re)hired after the earlier of the two days, on or before the later one: a new employment that
    ended again is a new departure with its own ticket."""
    if abs((day - ticket_day).days) > window_days:
        return False
    return not (hired is not None and min(ticket_day, day) < hired <= max(ticket_day, day))


def _same_departure_tickets(wh: Warehouse, con, cands: list[model.Candidate], existing: dict[str, list[dict]],
                            run_date: dt.date, *, urgent_only: bool, window_days: int | None = None
                            ) -> dict[str, dict]:
    """Tickets of the same departure issued under another day's group key, for the candidates no
    ticket of their own group exists for; they join `existing` (so `_classify` adopts, or refuses a
    change to, them: never a second ticket). `urgent_only`: only tickets the same-day path issued
    (the night); else any (an event after the night's ticket). A ticket must share at least one
    account with the candidate. Returns {candidate group_key: the adopted ticket row}."""
    if "tickets" not in _tables(wh, con, SCHEMA):
        return {}
    open_ = [c for c in cands if c.group_key not in existing]
    if not open_:
        return {}
    employees = sorted({c.document["employee_id"] for c in open_})
    found: dict[tuple[str, str, str], list[dict]] = {}
    urgent = f" AND substr(run_id, 1, {len(URGENT_RUN_PREFIX)}) = %s" if urgent_only else ""
    for i in range(0, len(employees), 500):
        chunk = employees[i:i + 500]
        for r in _rows(wh, con,
                       f"SELECT ticket_id, kind, group_key, employee_id, system, event_date, account_ids, actions, "
                       f"content_sha256, status, run_id FROM {TICKETS} WHERE employee_id IN "
                       f"({', '.join(['%s'] * len(chunk))}){urgent} ORDER BY created_at, ticket_id",
                       (*chunk, *([URGENT_RUN_PREFIX] if urgent_only else []))):
            found.setdefault((r["kind"], r["employee_id"], r["system"]), []).append(r)
    if not found:
        return {}
    window = model.hr_event_window_days() if window_days is None else window_days
    hired = hire_dates(wh, con, employees, run_date)
    adopted: dict[str, dict] = {}
    for c in open_:
        d = c.document
        day = dt.date.fromisoformat(d["event_date"])
        near = [r for r in found.get((d["kind"], d["employee_id"], d["system"]), [])
                if r["event_date"] != day and set(json.loads(r["account_ids"])) & set(d["account_ids"])
                and same_departure(r["event_date"], day, window, hired.get(d["employee_id"]))]
        if not near:
            continue
        nearest = min(abs((r["event_date"] - day).days) for r in near)
        prior = [r for r in near if abs((r["event_date"] - day).days) == nearest]
        existing[c.group_key] = prior
        adopted[c.group_key] = prior[-1]
    return adopted


def _adopted_events(adopted: dict[str, dict], cands: list[model.Candidate], refused: list, now: dt.datetime,
                    run_id: str, run_date: dt.date, actor: str) -> tuple[list[dict], list[dict]]:
    """The audit events and the report lines of the tickets recognised as the same departure."""
    refused_ids = {c.ticket_id for c, _, _ in refused}
    events, out = [], []
    for c in cands:
        prior = adopted.get(c.group_key)
        if prior is None:
            continue
        d = c.document
        line = {"ticket_id": prior["ticket_id"], "ticket_event_date": prior["event_date"].isoformat(),
                "rule_ticket_id": c.ticket_id, "rule_event_date": d["event_date"], "employee_id": d["employee_id"],
                "system": d["system"], "kind": d["kind"], "refused": c.ticket_id in refused_ids}
        out.append(line)
        events.append(_audit_for(
            dict(d, ticket_id=prior["ticket_id"]), "adopted", outcome="refused" if line["refused"] else "adopted",
            actor=actor, run_id=run_id, run_date=run_date, occurred_at=now,
            event_id=f"{prior['ticket_id']}:adopted:{c.ticket_id}",
            details={"same_departure_as": c.ticket_id, "rule_event_date": d["event_date"],
                     "ticket_event_date": prior["event_date"].isoformat(),
                     "days_apart": (dt.date.fromisoformat(d["event_date"]) - prior["event_date"]).days,
                     "issued_by": prior["run_id"]},
        ))
    return events, out


def current_documents(wh: Warehouse, con, ticket_ids) -> dict[str, dict]:
    """The latest revision of each ticket: its revision row's document, else the ticket's own."""
    out: dict[str, dict] = {}
    ids = sorted(set(ticket_ids))
    present = _tables(wh, con, SCHEMA)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        ph = ", ".join(["%s"] * len(chunk))
        for r in _rows(wh, con, f"SELECT ticket_id, payload FROM {TICKETS} WHERE ticket_id IN ({ph})", tuple(chunk)):
            out[r["ticket_id"]] = json.loads(r["payload"])
        if "revisions" in present:
            for r in _rows(wh, con, f"SELECT ticket_id, revision, payload FROM {REVISIONS} WHERE ticket_id IN ({ph}) "
                                    f"ORDER BY ticket_id, revision", tuple(chunk)):
                out[r["ticket_id"]] = json.loads(r["payload"])
    return out


def _classify(cands: list[model.Candidate], existing: dict[str, list[dict]]):
    """Split tonight's candidates into new tickets, already-issued ones, and refused changes.

    A candidate is already issued when a ticket of the same (kind, employee, system, termination
    or notice date) exists and covers every action it asks for (same facts, or progress: some
    accounts or entitlements already removed). Anything else under an existing ticket - a new
    entitlement or account, or an exposure that came back after the ticket closed - is a changed
    payload: refused and alerted, never sent as a second ticket.
    """
    new, unchanged, refused = [], [], []
    for c in cands:
        prior = existing.get(c.group_key)
        if not prior:
            new.append(c)
            continue
        covered: set[str] = set()
        for p in prior:
            covered.update(model.canonical_json(a) for a in json.loads(p["actions"]))
        wanted = {model.canonical_json(a) for a in c.actions}
        closed = [p for p in prior if p["status"] == "closed"]
        if not wanted <= covered:
            extra = sorted(wanted - covered)
            refused.append((c, prior[-1], f"changed payload: {len(extra)} action(s) not in the issued ticket"))
        elif closed and len(closed) == len(prior):
            refused.append((c, prior[-1], "exposure reappeared after the ticket was closed"))
        else:
            unchanged.append((c, prior[-1]))
    return new, unchanged, refused


def plan_tickets(warehouse_url: str, run_date: dt.date, run_id: str, *, schema: str = "publish_candidate") -> list[dict]:
    """The tickets tonight would create, without side effects (read-only; no table is created).

    One document per (kind, employee_id, system) from the exposure tables of `schema`, excluding
    those a ticket already exists for (see `_classify`). ``created_at`` is null until created.
    """
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        return plan_new_tickets(wh, con, run_date, schema, run_id=run_id)


def plan_new_tickets(wh: Warehouse, con, run_date: dt.date, schema: str = "publish_candidate", *,
                     run_id: str = "plan") -> list[dict]:
    """plan_tickets on a connection the caller holds (the breakers' check plans, measures and records
    on one connection)."""
    cands = _candidates(wh, con, run_date, run_id, schema)
    existing = _existing_by_group(wh, con, [c.group_key for c in cands])
    _same_departure_tickets(wh, con, cands, existing, run_date, urgent_only=True)
    new, _, _ = _classify(cands, existing)
    return [c.document for c in new]


# --------------------------------------------------------------------------- creating


def _new_ticket_rows(new: list, config: DeliveryConfig | None, run_id: str, run_date: dt.date, now: dt.datetime,
                     actor: str = ACTOR) -> tuple[list, list, list, list[str], dict[str, int]]:
    """The rows a batch of new tickets writes, whoever planned them (the night, the urgent path): the
    ticket, one outbox row per channel, the audit event; and which tickets no channel takes."""
    ticket_rows, outbox_rows, events, unrouted = [], [], [], []
    unrouted_systems: dict[str, int] = {}
    for c in new:
        doc = dict(c.document, created_at=model.iso_utc(now))
        payload = model.canonical_json(doc)
        ticket_rows.append((
            doc["ticket_id"], doc["kind"], c.group_key, doc["employee_id"], doc["system"], doc["account_id"],
            model.canonical_json(doc["account_ids"]), doc["priority"],
            dt.datetime.fromisoformat(doc["due_by"].replace("Z", "+00:00")),
            model.canonical_json(doc["actions"]), doc["reason"], doc["rule_id"], doc["rule_version"],
            dt.date.fromisoformat(doc["event_date"]), run_id, run_date,
            model.canonical_json(doc["evidence"]["input_hashes"]), c.content_sha256, payload, now, "created",
            now, None,
        ))
        channels = _channels(config, doc)
        if not channels:
            unrouted.append(doc["ticket_id"])
            unrouted_systems[doc["system"]] = unrouted_systems.get(doc["system"], 0) + 1
        for ch in channels:
            obx = outbox_id_for(doc["ticket_id"], ch.name)
            outbox_rows.append((
                obx, doc["ticket_id"], ch.type, ch.name, doc["system"], run_date, idempotency_key_for(obx),
                model.sha256_hex(payload), now, "pending", 0, now, None, None,
            ))
        events.append(_audit_for(
            doc, "created", outcome="created", event_id=f"{doc['ticket_id']}:created", occurred_at=now,
            actor=actor, details={"kind": doc["kind"], "priority": doc["priority"], "due_by": doc["due_by"],
                                  "channels": [ch.name for ch in channels], "actions": len(doc["actions"])},
        ))
    return ticket_rows, outbox_rows, events, unrouted, unrouted_systems


def _channels(config: DeliveryConfig | None, doc: dict) -> list:
    """A ticket's channels: its system's; a drill's (DRILL- employee, docs/drills.md) only the drill
    channels or the dry-run sink, never a production IAM system or ITSM."""
    if is_drill_id(doc["employee_id"]):
        return drill_channels(config)
    return config.channels_for(doc["system"]) if config else []


def _audit_for(doc: dict, event: str, *, outcome=None, details=None, event_id=None, actor: str = ACTOR,
               run_id: str | None = None, run_date=None, occurred_at=None) -> dict:
    return {
        "event_id": event_id, "event": event, "actor": actor, "occurred_at": occurred_at,
        "run_date": run_date or dt.date.fromisoformat(doc["run_date"]), "run_id": run_id or doc["run_id"],
        "target_system": doc["system"], "rule_version": doc["rule_version"],
        "input_hashes": doc["evidence"]["input_hashes"], "outcome": outcome, "subject": doc["employee_id"],
        "ticket_id": doc["ticket_id"], "details": details or {},
    }


def create_tickets(warehouse_url: str, run_date: dt.date, run_id: str, *, out: Path, schema: str = "publish",
                   config_path: Path | None = None, now: dt.datetime | None = None) -> dict:
    """Insert tonight's new tickets and their outbox rows in one transaction, then write the files.

    Returns ``{"created", "outbox", "unchanged", "adopted", "adopted_tickets": [{ticket_id,
    ticket_event_date, rule_ticket_id, rule_event_date, ...}], "revised": [{ticket_id, revision, from, to,
    channels}], "refused": [{ticket_id, existing_ticket_id, reason}], "unrouted": [ticket_id],
    "unrouted_systems": {system: count}, "delivery_configured", "overdue": [...], "files": {...}}``;
    `refused`, `unrouted` and `overdue` are for alerts.
    An issued ticket (not closed or dead-lettered) whose priority tonight differs from its latest
    revision gets revision n + 1 (same ticket_id, the new priority, tonight's run and evidence) and
    one new outbox row per channel: re-delivered as an update. `overdue`: see
    :func:`overdue_open_tickets`.
    ``config_path`` (else VIGIL_DELIVERY_CONFIG) routes each system to its channels; without a
    configuration tickets are created with no outbox rows and reported as unrouted.
    """
    config: DeliveryConfig | None = load_delivery_config(config_path)
    now = now or _now()
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_ticket_tables(wh, con)
        ensure_audit_log(wh, con)
        cands = _candidates(wh, con, run_date, run_id, schema)
        existing = _existing_by_group(wh, con, [c.group_key for c in cands])
        # an HR event's ticket for the same departure under another day (HR's day differs from the event's)
        adopted = _same_departure_tickets(wh, con, cands, existing, run_date, urgent_only=True)
        new, unchanged, refused = _classify(cands, existing)

        ticket_rows, outbox_rows, events, unrouted, unrouted_systems = _new_ticket_rows(new, config, run_id, run_date, now)
        adopted_events, adopted_out = _adopted_events(adopted, cands, refused, now, run_id, run_date, ACTOR)
        events += adopted_events
        # Tickets already issued whose priority tonight's state changed (overdue: P3 -> P2; a login
        # after termination or privilege: P1): a new revision of the same ticket, re-delivered.
        live = [(c, prior) for c, prior in unchanged if prior["status"] not in ("closed", "dead_lettered")]
        currents = current_documents(wh, con, [prior["ticket_id"] for _, prior in live])
        revision_rows, revised = [], []
        for c, prior in live:
            cur = currents[prior["ticket_id"]]
            if c.document["priority"] == cur["priority"]:
                continue
            rev = int(cur.get("revision", 1)) + 1
            doc = dict(cur, priority=c.document["priority"], revision=rev, run_id=run_id,
                       run_date=run_date.isoformat(), evidence=c.document["evidence"])
            payload = model.canonical_json(doc)
            why = f"priority {cur['priority']} -> {doc['priority']}"
            revision_rows.append((doc["ticket_id"], rev, doc["priority"],
                                  dt.datetime.fromisoformat(doc["due_by"].replace("Z", "+00:00")), payload,
                                  model.sha256_hex(payload), why, run_id, run_date, now))
            channels = _channels(config, doc)
            for ch in channels:
                obx = outbox_id_for(doc["ticket_id"], ch.name, rev)
                outbox_rows.append((
                    obx, doc["ticket_id"], ch.type, ch.name, doc["system"], run_date, idempotency_key_for(obx),
                    model.sha256_hex(payload), now, "pending", 0, now, None, None,
                ))
            revised.append({"ticket_id": doc["ticket_id"], "revision": rev, "from": cur["priority"],
                            "to": doc["priority"], "channels": [ch.name for ch in channels]})
            events.append(_audit_for(
                doc, "revised", outcome="revised", event_id=f"{doc['ticket_id']}:revised:{rev}", occurred_at=now,
                details={"revision": rev, "from_priority": cur["priority"], "priority": doc["priority"],
                         "channels": [ch.name for ch in channels], "previous_status": prior["status"]},
            ))
        refused_out = []
        for c, prior, reason in refused:
            refused_out.append({"ticket_id": c.ticket_id, "existing_ticket_id": prior["ticket_id"], "reason": reason,
                                "employee_id": c.document["employee_id"], "system": c.document["system"]})
            events.append(_audit_for(
                c.document, "refused_changed_payload", outcome="refused", occurred_at=now,
                event_id=f"{prior['ticket_id']}:refused:{c.content_sha256[:16]}",
                details={"reason": reason, "existing_ticket_id": prior["ticket_id"],
                         "existing_content_sha256": prior["content_sha256"], "content_sha256": c.content_sha256},
            ))
        _insert(con, TICKETS, TICKETS_COLUMNS, ticket_rows)
        _insert(con, REVISIONS, REVISION_COLUMNS, revision_rows)
        _insert(con, OUTBOX, OUTBOX_COLUMNS, outbox_rows)
        append_audit_events(wh, con, events)
        overdue = overdue_open_tickets(wh, con, run_date)

    files = write_ticket_files(warehouse_url, run_date, out=out)
    result = {
        "run_date": run_date.isoformat(), "created": len(ticket_rows), "outbox": len(outbox_rows),
        "unchanged": len(unchanged), "adopted": len(adopted_out), "adopted_tickets": adopted_out,
        "revised": revised, "refused": refused_out,
        "unrouted": unrouted, "overdue": overdue, "files": files,
        "unrouted_systems": dict(sorted(unrouted_systems.items())), "delivery_configured": config is not None,
    }
    log.info("tickets: %s created, %s revised, %s outbox rows, %s unchanged, %s refused, %s unrouted, %s overdue",
             result["created"], len(revised), result["outbox"], result["unchanged"], len(refused_out), len(unrouted),
             len(overdue))
    return result


def overdue_open_tickets(wh: Warehouse, con, run_date: dt.date) -> list[dict]:
    """Delivered tickets (sent or acknowledged) due at or before 23:59:59 UTC of D whose access the
    IAM snapshot of D still shows open: a leaver's account enabled; for a notice ticket, an
    enabled account still holding a frozen entitlement. Without a snapshot for D: none (nothing is
    known). Each is escalated once (alerts kind ``ticket_overdue``)."""
    end_of_day = dt.datetime.combine(run_date, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
    if "iam__accounts" not in _tables(wh, con, "raw"):
        return []
    if not wh.fetchall(con, "SELECT count(*) FROM raw.iam__accounts WHERE _feed_date = %s", (run_date,))[0][0]:
        return []
    rows = _rows(wh, con, f"SELECT ticket_id, status, due_by FROM {TICKETS} WHERE status IN ('sent', 'acknowledged') "
                          f"AND due_by <= %s ORDER BY ticket_id", (end_of_day,))
    docs = current_documents(wh, con, [r["ticket_id"] for r in rows])
    out = []
    for r in rows:
        doc = docs[r["ticket_id"]]
        ids = sorted(doc["account_ids"])
        ph = ", ".join(["%s"] * len(ids))
        enabled = {a["account_id"] for a in _rows(
            wh, con, f"SELECT account_id FROM raw.iam__accounts WHERE _feed_date = %s AND system = %s "
                     f"AND status = 'enabled' AND account_id IN ({ph})", (run_date, doc["system"], *ids))}
        if doc["kind"] == model.NOTICE and enabled:
            held = {(e["account_id"], e["entitlement"]) for e in _rows(
                wh, con, f"SELECT account_id, entitlement FROM raw.iam__entitlements WHERE _feed_date = %s "
                         f"AND system = %s AND account_id IN ({ph})", (run_date, doc["system"], *ids))}
            enabled = {a["account_id"] for a in doc["actions"] if (a["account_id"], a.get("entitlement")) in held}
        if not enabled:
            continue
        due = r["due_by"] if r["due_by"].tzinfo else r["due_by"].replace(tzinfo=dt.timezone.utc)
        out.append({
            "ticket_id": doc["ticket_id"], "kind": doc["kind"], "employee_id": doc["employee_id"],
            "system": doc["system"], "priority": doc["priority"], "revision": int(doc.get("revision", 1)),
            "due_by": doc["due_by"], "policy_due_by": doc.get("policy_due_by", doc["due_by"]),
            "days_overdue": (run_date - due.astimezone(dt.timezone.utc).date()).days, "status": r["status"],
            "open_account_ids": sorted(enabled), "rule_id": doc["rule_id"], "rule_version": doc["rule_version"],
        })
    return out


def ticket_documents(wh: Warehouse, con, run_date: dt.date) -> list[dict]:
    """Every ticket created for night D, and every revision made on night D (its new document)."""
    rows = _rows(wh, con, f"SELECT ticket_id, payload FROM {TICKETS} WHERE run_date = %s", (run_date,))
    if "revisions" in _tables(wh, con, SCHEMA):
        rows += _rows(wh, con, f"SELECT ticket_id, payload FROM {REVISIONS} WHERE run_date = %s", (run_date,))
    return [json.loads(r["payload"]) for r in sorted(rows, key=lambda r: (r["ticket_id"], r["payload"]))]


def write_ticket_files(warehouse_url: str, run_date: dt.date, *, out: Path) -> dict:
    """<out>/tickets/<D>/revocations.jsonl and .csv: every ticket created for night D (atomic, idempotent)."""
    wh = Warehouse.open(warehouse_url)
    with wh.connection() as con:
        docs = ticket_documents(wh, con, run_date) if "tickets" in _tables(wh, con, SCHEMA) else []
    folder = Path(out) / "tickets" / run_date.isoformat()
    jsonl, csv_path = folder / "revocations.jsonl", folder / "revocations.csv"
    wrote_jsonl = atomic_write(jsonl, model.render_jsonl(docs))
    wrote_csv = atomic_write(csv_path, model.render_csv(docs))
    return {"jsonl": str(jsonl), "csv": str(csv_path), "tickets": len(docs), "written": wrote_jsonl or wrote_csv}


# --------------------------------------------------------------------------- lifecycle


def acknowledge_ticket(warehouse_url: str, ticket_id: str, *, actor: str, reference: str | None = None,
                       now: dt.datetime | None = None) -> bool:
    """A consumer (or the person working the ticket) confirmed it: sent -> acknowledged."""
    now = now or _now()
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        rows = _rows(wh, con, f"SELECT payload, status FROM {TICKETS} WHERE ticket_id = %s", (ticket_id,))
        if not rows:
            raise KeyError(f"no ticket {ticket_id}")
        if rows[0]["status"] != "sent":
            return False
        con.execute(f"UPDATE {TICKETS} SET status = %s, status_at = %s WHERE ticket_id = %s AND status = %s",
                    ("acknowledged", now, ticket_id, "sent"))
        doc = json.loads(rows[0]["payload"])
        append_audit_events(wh, con, [_audit_for(
            doc, "acknowledged", actor=actor, outcome="acknowledged", occurred_at=now,
            event_id=f"{ticket_id}:acknowledged", details={"reference": reference} if reference else {},
        )])
    return True


def close_tickets(warehouse_url: str, run_date: dt.date, *, now: dt.datetime | None = None) -> dict:
    """Close sent/acknowledged tickets the night's IAM snapshot shows done.

    Reads raw.iam__accounts (and raw.iam__entitlements for notice restrictions) partition
    ``_feed_date = run_date``. A leaver ticket is done when every account is disabled/locked or
    gone from the snapshot; a notice ticket when every entitlement is gone or its account is.
    ``closed_at`` = the latest account ``disabled_at`` not after the end of D, else 23:59:59 UTC of
    D (the snapshot describes the end of its day) - the revocation-timeliness input.
    Without a snapshot for D nothing closes.
    """
    now = now or _now()
    end_of_day = dt.datetime.combine(run_date, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_ticket_tables(wh, con)
        ensure_audit_log(wh, con)
        if "iam__accounts" not in _tables(wh, con, "raw"):
            return {"run_date": run_date.isoformat(), "snapshot": False, "closed": 0, "still_open": 0, "ticket_ids": []}
        has_snapshot = wh.fetchall(con, "SELECT count(*) FROM raw.iam__accounts WHERE _feed_date = %s", (run_date,))[0][0]
        if not has_snapshot:
            return {"run_date": run_date.isoformat(), "snapshot": False, "closed": 0, "still_open": 0, "ticket_ids": []}
        open_tickets = _rows(wh, con, f"SELECT ticket_id, kind, system, payload, status FROM {TICKETS} "
                                      f"WHERE status IN ('sent', 'acknowledged') ORDER BY ticket_id")
        # Only the open tickets' accounts are read: the whole snapshot (7M accounts at the xl
        # benchmark scale) must not be pulled into Python (docs/benchmarks.md).
        wanted: dict[tuple[str, str], set[str]] = {}
        for t in open_tickets:
            doc = json.loads(t["payload"])
            wanted.setdefault(("accounts", doc["system"]), set()).update(doc["account_ids"])
            if t["kind"] == model.NOTICE:
                wanted.setdefault(("entitlements", doc["system"]), set()).update(doc["account_ids"])
        accounts: dict[tuple[str, str], dict] = {}
        entitlements: set[tuple[str, str, str]] = set()
        for (table, system), ids in sorted(wanted.items()):
            ids_sorted = sorted(ids)
            for i in range(0, len(ids_sorted), 1000):
                chunk = ids_sorted[i:i + 1000]
                ph = ", ".join(["%s"] * len(chunk))
                if table == "accounts":
                    for r in _rows(wh, con, f"SELECT system, account_id, status, disabled_at FROM raw.iam__accounts "
                                            f"WHERE _feed_date = %s AND system = %s AND account_id IN ({ph})",
                                   (run_date, system, *chunk)):
                        accounts[(r["system"], r["account_id"])] = r
                else:
                    entitlements |= {
                        (r["system"], r["account_id"], r["entitlement"])
                        for r in _rows(wh, con, f"SELECT system, account_id, entitlement FROM raw.iam__entitlements "
                                                f"WHERE _feed_date = %s AND system = %s AND account_id IN ({ph})",
                                       (run_date, system, *chunk))
                    }
        closed, events, still_open = [], [], 0
        for t in open_tickets:
            doc = json.loads(t["payload"])
            done, closed_at, how = True, None, []
            for account_id in doc["account_ids"]:
                acct = accounts.get((doc["system"], account_id))
                enabled = acct is not None and acct["status"] == "enabled"
                if t["kind"] == model.NOTICE and enabled:
                    wanted = {a["entitlement"] for a in doc["actions"] if a["account_id"] == account_id}
                    if any((doc["system"], account_id, e) in entitlements for e in wanted):
                        done = False
                        break
                    how.append("entitlements_removed")
                    at = end_of_day
                elif enabled:
                    done = False
                    break
                elif acct is None:
                    how.append("gone")
                    at = end_of_day
                else:
                    how.append(acct["status"])
                    disabled_at = acct.get("disabled_at")
                    at = disabled_at if disabled_at is not None and disabled_at <= end_of_day else end_of_day
                closed_at = at if closed_at is None or at > closed_at else closed_at
            if not done:
                still_open += 1
                continue
            closed.append((t["ticket_id"], closed_at))
            events.append(_audit_for(
                doc, "closed", outcome=",".join(sorted(set(how))), event_id=f"{t['ticket_id']}:closed",
                run_date=run_date, run_id=f"close__{run_date.isoformat()}", occurred_at=now,
                details={"closed_at": model.iso_utc(closed_at), "snapshot_date": run_date.isoformat(),
                         "previous_status": t["status"]},
            ))
        for ticket_id, closed_at in closed:
            con.execute(
                f"UPDATE {TICKETS} SET status = %s, status_at = %s, closed_at = %s "
                f"WHERE ticket_id = %s AND status IN ('sent', 'acknowledged')",
                ("closed", now, closed_at, ticket_id),
            )
        append_audit_events(wh, con, events)
    return {"run_date": run_date.isoformat(), "snapshot": True, "closed": len(closed), "still_open": still_open,
            "ticket_ids": [c[0] for c in closed]}


# --------------------------------------------------------------------------- issued outside the night


def issue_tickets(warehouse_url: str, candidates: list[model.Candidate], *, run_date: dt.date, run_id: str,
                  out: Path, config_path: Path | None = None, now: dt.datetime | None = None,
                  actor: str = ACTOR) -> dict:
    """Issue tickets planned outside the nightly rules (the urgent path, vigil.actions.urgent): the same
    documents, deterministic ids, outbox rows and audit events as `create_tickets`, for the
    candidates no ticket exists for yet (by group key, as `_classify` decides for a night).

    Returns ``created`` (ticket ids), ``existing`` (ids of tickets already issued for the same
    group, or for the same departure under another day: nothing new is sent), ``adopted_tickets``
    (those of another day, as `create_tickets`), ``refused`` (as `create_tickets`), ``unrouted``,
    ``outbox`` and the ticket files of `run_date`."""
    config: DeliveryConfig | None = load_delivery_config(config_path)
    now = now or _now()
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_ticket_tables(wh, con)
        ensure_audit_log(wh, con)
        existing = _existing_by_group(wh, con, [c.group_key for c in candidates])
        # a ticket of the same departure already issued under another day (the night's, or another event's)
        adopted = _same_departure_tickets(wh, con, candidates, existing, run_date, urgent_only=False)
        new, unchanged, refused = _classify(candidates, existing)
        ticket_rows, outbox_rows, events, unrouted, _ = _new_ticket_rows(new, config, run_id, run_date, now, actor)
        adopted_events, adopted_out = _adopted_events(adopted, candidates, refused, now, run_id, run_date, actor)
        events += adopted_events
        refused_out = [{"ticket_id": c.ticket_id, "existing_ticket_id": prior["ticket_id"], "reason": reason,
                        "employee_id": c.document["employee_id"], "system": c.document["system"]}
                       for c, prior, reason in refused]
        _insert(con, TICKETS, TICKETS_COLUMNS, ticket_rows)
        _insert(con, OUTBOX, OUTBOX_COLUMNS, outbox_rows)
        append_audit_events(wh, con, events)
    files = write_ticket_files(warehouse_url, run_date, out=out)
    return {"created": [r[0] for r in ticket_rows], "existing": [prior["ticket_id"] for _, prior in unchanged],
            "adopted_tickets": adopted_out, "refused": refused_out, "unrouted": unrouted, "outbox": len(outbox_rows), "files": files,
            "delivery_configured": config is not None}
