"""Delivery of the ticket outbox on the delivery core (vigil.actions.delivery.outbox).

``deliver_tickets`` may be called at any time, as often as wanted (its own DAG task and
``vigil deliver``): the core claims due rows (P1 tickets first), sends them with retries and
records them; what tickets add is here: SCIM as a channel, the ticket webhook bodies and file
drop files, and the ticket lifecycle recorded with each batch (``sent``, ``acknowledged`` when
every channel confirms the change itself - SCIM -, ``dead_lettered``) with one audit event per
change. A crash between sending and recording leaves the rows ``sending``; once the lease expires
they are sent again with the same idempotency key (webhook-id; SCIM re-reads the resource first),
so the target applies the change once.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from vigil.actions.delivery.config import load_delivery_config
from vigil.actions.delivery.outbox import Clock, DocumentKind, Outcome, counts, deliver_outbox, record_batch, rows
from vigil.actions.delivery.retry import backoff_delay
from vigil.actions.tickets import model
from vigil.actions.tickets.channels.scim import ScimChannel
from vigil.actions.tickets.channels.webhook import render_body
from vigil.actions.tickets.store import OUTBOX, REVISIONS, SCHEMA, TICKETS, _audit_for, ensure_ticket_tables
from vigil.store.audit import append_audit_events, ensure_audit_log
from vigil.store.warehouse import Warehouse

__all__ = ["backoff_delay", "deliver_tickets", "outbox_counts"]

CONFIRMING_CHANNELS = ("scim",)  # a 2xx from these means the change is applied -> acknowledged


def _documents(wh: Warehouse, con, ticket_ids: list[str]) -> dict[str, dict[str, dict]]:
    """ticket_id -> {sha256 of a stored document: the document}: the ticket's first revision
    (tickets.tickets) and every later one (tickets.revisions)."""
    out: dict[str, dict[str, dict]] = {}
    ids = sorted(set(ticket_ids))
    has_revisions = "revisions" in {t.split(".", 1)[1] for t in wh.list_tables(con, (SCHEMA,))}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        ph = ", ".join(["%s"] * len(chunk))
        found = rows(wh, con, f"SELECT ticket_id, payload FROM {TICKETS} WHERE ticket_id IN ({ph})", tuple(chunk))
        if has_revisions:
            found += rows(wh, con, f"SELECT ticket_id, payload FROM {REVISIONS} WHERE ticket_id IN ({ph})", tuple(chunk))
        for r in found:
            out.setdefault(r["ticket_id"], {})[model.sha256_hex(r["payload"])] = json.loads(r["payload"])
    return out


def _drop(channel, system: str, run_date: str, documents: list[dict]):
    """revocations.jsonl + revocations.csv of every ticket of the night routed to the channel."""
    docs = sorted(documents, key=lambda d: d["ticket_id"])
    jsonl = model.render_jsonl(docs).encode()
    csv = model.render_csv(docs).encode()
    manifest = {"generated_by": "vigil", "channel": channel.name, "system": system, "run_date": run_date,
                "tickets": len(docs), "ticket_ids": [d["ticket_id"] for d in docs]}
    return [("revocations.jsonl", jsonl, len(docs)), ("revocations.csv", csv, len(docs))], manifest


def _ticket_transitions(wh: Warehouse, con, outcomes: list[Outcome], run_id: str, now: dt.datetime) -> dict:
    """Inside the batch's transaction: ticket statuses and their audit events."""
    newly_dead: list[dict] = []
    transitions = {"sent": 0, "acknowledged": 0, "dead_lettered": 0}
    ticket_ids = sorted({o.row.doc_id for o in outcomes})
    events = []
    for i in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[i:i + 500]
        ph = ", ".join(["%s"] * len(chunk))
        tickets = {r["ticket_id"]: r for r in rows(
            wh, con, f"SELECT ticket_id, status, payload FROM {TICKETS} WHERE ticket_id IN ({ph})", tuple(chunk))}
        rows_of: dict[str, list[dict]] = {}
        for r in rows(wh, con, f"SELECT ticket_id, channel, target, state, last_status, last_error FROM {OUTBOX} "
                               f"WHERE ticket_id IN ({ph}) ORDER BY outbox_id", tuple(chunk)):
            rows_of.setdefault(r["ticket_id"], []).append(r)
        updates: list[tuple[str, str]] = []
        for tid in chunk:
            t, its_rows = tickets[tid], rows_of.get(tid, [])
            current = t["status"]
            if current in ("closed", "dead_lettered") or not its_rows:
                continue
            doc = json.loads(t["payload"])
            dead = [r for r in its_rows if r["state"] == "dead_lettered"]
            if dead:
                updates.append((tid, "dead_lettered"))
                d = dead[0]
                events.append(_audit_for(doc, "dead_lettered", outcome=d["last_status"], run_id=run_id,
                                         occurred_at=now, event_id=f"{tid}:dead_lettered",
                                         details={"target": d["target"], "channel": d["channel"],
                                                  "error": d["last_error"]}))
                newly_dead.append({"ticket_id": tid, "system": doc["system"], "employee_id": doc["employee_id"],
                                   "target": d["target"], "status": d["last_status"], "error": d["last_error"]})
                transitions["dead_lettered"] += 1
                continue
            if not all(r["state"] == "delivered" for r in its_rows):
                continue
            target = "acknowledged" if all(r["channel"] in CONFIRMING_CHANNELS for r in its_rows) else "sent"
            outcome = ",".join(r["last_status"] or "" for r in its_rows)
            details = {"targets": [r["target"] for r in its_rows]}
            if current == "created":
                events.append(_audit_for(doc, "sent", outcome=outcome, run_id=run_id, occurred_at=now,
                                         event_id=f"{tid}:sent", details=details))
                transitions["sent"] += 1
            if target == "acknowledged" and current in ("created", "sent"):
                events.append(_audit_for(doc, "acknowledged", outcome=outcome, run_id=run_id, occurred_at=now,
                                         event_id=f"{tid}:acknowledged", details=dict(details, by="target")))
                transitions["acknowledged"] += 1
            if target != current and not (current == "acknowledged"):
                updates.append((tid, target))
        for tid, status in updates:
            con.execute(f"UPDATE {TICKETS} SET status = %s, status_at = %s WHERE ticket_id = %s", (status, now, tid))
    append_audit_events(wh, con, events)
    return {"dead": newly_dead, "sent": transitions["sent"], "acknowledged": transitions["acknowledged"]}


def _record_batch(wh: Warehouse, outcomes: list[Outcome], run_id: str, now: dt.datetime) -> dict:
    """One transaction: attempts, outbox states, ticket statuses and their audit events."""
    return record_batch(TICKET_KIND, wh, outcomes, run_id, now)


TICKET_KIND = DocumentKind(
    name="tickets", schema=SCHEMA, id_column="ticket_id", route_column="system",
    claim_from=f"{OUTBOX} o JOIN {TICKETS} t ON t.ticket_id = o.ticket_id",
    claim_order="t.priority, t.due_by, o.outbox_id",
    documents=_documents, render_webhook=render_body, drop=_drop, after_record=_ticket_transitions,
    channel_factory=ScimChannel, counters=("sent", "acknowledged"),
    # looked up at call time, so a test can stand a crash in for it
    record=lambda wh, outcomes, run_id, now: _record_batch(wh, outcomes, run_id, now),
)


def outbox_counts(warehouse_url: str) -> dict[str, int]:
    return counts(TICKET_KIND, Warehouse.open(warehouse_url))


def deliver_tickets(warehouse_url: str, config_path: Path | None, *, out: Path, run_id: str,
                    now: dt.datetime | None = None) -> dict:
    """Send every due outbox row; safe to call again at any time (resumes after a crash).

    Returns counts (``claimed``, ``delivered``, ``rescheduled``, ``requests``, ``files_written``,
    ticket transitions ``sent``/``acknowledged``), ``dead_lettered`` (ticket ids: alert on these),
    ``dead_letters`` (their target, status and redacted error) and ``outbox`` (rows per state after).
    ``now`` replaces the wall clock as the start time (it advances with real time).
    """
    wh = Warehouse.open(warehouse_url)
    with wh.transaction() as con:
        ensure_ticket_tables(wh, con)
        ensure_audit_log(wh, con)
    config = load_delivery_config(config_path)
    result = deliver_outbox(TICKET_KIND, wh, config, out=Path(out), run_id=run_id, clock=Clock(now))
    result["dead_lettered"] = [d["ticket_id"] for d in result["dead_letters"]]
    return result
